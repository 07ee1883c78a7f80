#!/usr/bin/env python3
"""Trajectory viewer (the seed's command line): `python3 visual.py [PORT] [RESULT_FILE ...]`."""

import sys

from r1v4.cli.view import main

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
