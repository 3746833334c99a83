"""End-to-end tests: whole processes (run_bot.py, kill -9, the demo, the soak), a real browser, schemathesis."""
