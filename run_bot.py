"""Stratum's one entry point. See README.md, or `python run_bot.py --help`."""

import sys

from app.cli import main

if __name__ == "__main__":
    sys.exit(main())
