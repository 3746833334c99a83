"""Unit tests: pure functions and in-memory objects; no temporary file, socket, process or database."""
