"""The Python inside a code call written with Markdown fences (```python … ```), as the
code families write it: the agent runs this text, and the viewer shows it.

Pure text; MODELS.md 4.1 explains why a fence left in would be a SyntaxError.
"""

from __future__ import annotations

import re
import textwrap

__all__ = ["strip_fences"]

# One fenced block: ```python / ```py / ``` … ``` (the closing fence may be missing when a
# stop string cut the turn right after the code).
_FENCE_RE = re.compile(r"```[ \t]*(?:python3?|py)?[ \t]*\r?\n(.*?)(?:\r?\n[ \t]*```|\Z)", re.S)


def strip_fences(code: str) -> str:
    """The Python inside a code call: the body of its Markdown fence(s), joined in order when
    there are several, else the text itself; dedented either way. A fence left in would be a
    SyntaxError (MODELS.md 4.1)."""
    text = code.strip("\n")
    if "```" not in text:
        return textwrap.dedent(text).strip("\n")
    blocks = [m.group(1) for m in _FENCE_RE.finditer(text)]
    if not blocks:
        return textwrap.dedent(text.replace("```", "")).strip("\n")
    return "\n".join(textwrap.dedent(b).strip("\n") for b in blocks)
