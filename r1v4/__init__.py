"""r1v4: run, inspect and debug agentic vision-language models behind OpenAI-compatible endpoints.

The public surface is small on purpose; the packages beneath are layers, one job per
module (see docs/DESIGN.md, "Layout"). Names are imported lazily so `import r1v4` stays cheap
for scripts that only need the parser.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_EXPORTS = {
    "ChatClient": "r1v4.endpoint",
    "Completion": "r1v4.endpoint",
    "EndpointError": "r1v4.endpoint",
    "EndpointSettings": "r1v4.endpoint",
    "R1V4Error": "r1v4.protocol.errors",
    "RunSettings": "r1v4.batch.settings",
    "run_batch": "r1v4.batch.runner",
    "load_cases": "r1v4.protocol.cases",
    "parse_full_response": "r1v4.parsing",
    "parse_plan": "r1v4.parsing.plan",
    "score_answer": "r1v4.evals.scoring",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'r1v4' has no attribute {name!r}")
