"""`python -m r1v4 <command>`: every entry point goes through r1v4.cli."""

from r1v4.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
