"""`python -m r1v4 <command>`: one table from command names to the modules that own them.

The cli layer is the only one that parses argv, reads `R1V4_*` environment variables,
prints to the terminal and maps outcomes to exit codes; every layer below returns values
and raises errors. Each command module has `main(argv) -> int` with its own parser; this
file only dispatches, and imports a command's module only when that command runs.
"""

from __future__ import annotations

import importlib
import sys

COMMANDS: dict[str, tuple[str, str, str]] = {
    "run": ("r1v4.cli.run", "main", "run a batch (add --stream / --planner)"),
    "check": (
        "r1v4.cli.check",
        "main",
        "probe an endpoint: model, streaming, reasoning, images",
    ),
    "sim": ("r1v4.cli.sim", "main", "serve the SIMULATED OpenAI-compatible endpoint"),
    "dialects": ("r1v4.cli.dialects", "main", "the model dialects (--dialect) and their sources"),
    "parse": ("r1v4.cli.parse", "main", "parse result files into rounds; --stats"),
    "index": ("r1v4.cli.index", "main", "build the local search index of a corpus"),
    "merge": ("r1v4.cli.merge", "main", "join shard outputs, one record per id"),
    "report": ("r1v4.cli.report", "main", "accuracy and efficiency tables; --compare A B"),
    "flags": ("r1v4.cli.flags", "main", "quality flags of a result file's trajectories"),
    "export-sft": ("r1v4.cli.export_sft", "main", "kept trajectories as a fine-tuning dataset"),
    "import": ("r1v4.cli.import_", "main", "turn a benchmark table into test cases"),
    "bench": ("r1v4.cli.bench", "main", "benchmarks of the R1V4 table: list, prepare, run, report"),
    "view": ("r1v4.cli.view", "main", "start the trajectory viewer"),
    "export-html": ("r1v4.cli.view", "export_main", "write a static HTML report"),
}


def usage() -> str:
    width = max(map(len, COMMANDS))
    rows = "\n".join(f"  {name:<{width}}  {help_}" for name, (_, _, help_) in COMMANDS.items())
    return f"usage: python -m r1v4 <command> [args]\n\ncommands:\n{rows}\n"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    name, rest = argv[0], argv[1:]
    if name not in COMMANDS:
        print(f"error: unknown command {name!r}\n\n{usage()}", file=sys.stderr)
        return 2
    module_name, func_name, _ = COMMANDS[name]
    func = getattr(importlib.import_module(module_name), func_name)
    return int(func(rest) or 0)
