"""Exit codes, the same for every command, and the text `--help` shows about them.

A script driving the toolkit (a CI job, a sweep over checkpoints) reads the exit code, not
the summary, so the code must never say "all done" when something failed:

- 0: everything asked for was done, and no input was rejected;
- 1: it ran to the end, but some cases (or rows, or lines) failed or were rejected;
- 2: nothing more could be done: a usage or configuration error, or a run stopped early (the
  endpoint refuses us, the results cannot be written);
- 130: interrupted (Ctrl-C, SIGTERM); rerunning the same command resumes.
"""

from __future__ import annotations

import argparse

__all__ = [
    "FAILED",
    "INTERRUPTED",
    "OK",
    "STOPPED",
    "USAGE",
    "ExitCodesHelpFormatter",
    "epilog",
]

OK = 0
FAILED = 1
USAGE = 2
STOPPED = 2  # the same code as a usage error: nothing more can be done as things stand
INTERRUPTED = 130


def epilog(meanings: dict[int, str]) -> str:
    """The "exit codes" block of a command's --help, one line per code."""
    rows = "\n".join(f"  {code:<4} {text}" for code, text in meanings.items())
    return f"exit codes:\n{rows}"


class ExitCodesHelpFormatter(argparse.HelpFormatter):
    """Keeps the exit-code table's line breaks; wraps the description as usual."""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        if text.startswith("exit codes:"):
            return "\n".join(indent + line for line in text.splitlines())
        return super()._fill_text(text, width, indent)
