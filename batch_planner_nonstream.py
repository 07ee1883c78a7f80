#!/usr/bin/env python3
"""Seed-compatible entry point: python3 batch_planner_nonstream.py [input] [output] [flags].

Run with --help for every flag; the logic lives in r1v4.cli.run.
"""

from r1v4.cli.run import main

if __name__ == "__main__":
    raise SystemExit(main(mode="planner-nonstream"))
