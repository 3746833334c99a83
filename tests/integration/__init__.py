"""Integration tests: real SQLite files, real HTTP on loopback, the fake Discord and Stripe in the test process."""
