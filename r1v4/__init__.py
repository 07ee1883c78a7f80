"""r1v4: run, inspect and debug agentic vision-language models behind OpenAI-compatible endpoints.

The public surface is small on purpose; the modules beneath hold one job each
(see docs/DESIGN.md for the map).
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
