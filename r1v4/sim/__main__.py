"""`python -m r1v4.sim`: the simulator's command line."""

import sys

from r1v4.cli.sim import main

if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
