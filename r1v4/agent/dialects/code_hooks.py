"""The vocabulary of code-writing dialects: how a `<code>` call is written, how its Python is
taken out of a Markdown fence, how images are preloaded into variables, and how the result
goes back. Families differ only in the data (tag, variable names, templates), so these are
shared pieces a dialect module picks from.

Sources of the shapes (`/work/notes/dialects/`): DeepEyesV2, Thyme and PyVision all write
```` <code>\\n```python\\n…\\n```\\n</code> ```` (`Visual-Agent/DeepEyesV2@0373e6e:
evaluation/VLMEvalKit/vlmeval/api/prompt.py`, `yfzhang114/Thyme@b9285b7:eval/VLMEvalKit/
vlmeval/vlm/thyme/utils.py`, `agents-x-project/PyVision@d08b450:prompt_template/
prompt_template_vis.json`); R1V4's `<code>` tag (paper §2.2.1, Table 1) carries bare Python
or the same fence. DeepEyesV2 preloads `image_1…`, PyVision `image_clue_0…`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from r1v4.parsing.fences import strip_fences

__all__ = [
    "CODE_TAG",
    "CodeObservation",
    "preload_prelude",
    "strip_fences",
]

CODE_TAG = "code"


def preload_prelude(template: str, names: Sequence[str], start: int = 1) -> str:
    """Python that opens each image file into the variable the family's prompt promises
    (`template` such as ``"image_{i}"`` or ``"image_clue_{i}"``, numbered from `start`),
    prepended to the model's code so a fresh process and a persistent one both have them."""
    if not names:
        return ""
    lines = ["from PIL import Image as _r1v4_Image"]
    for i, name in enumerate(names, start=start):
        lines.append(f"{template.format(i=i)} = _r1v4_Image.open({name!r})")
    return "\n".join(lines) + "\n"


@dataclass(frozen=True)
class CodeObservation:
    """How a code family writes its observation: a text head with the output, then the
    images each between `image_before` and `image_after` (formatted with `k`, the image's
    number), or `no_images` when there are none, then `tail`. The agent turns it into content
    parts, images where the family puts them."""

    head: str  # formatted with `output` (and `stdout`, `stderr`)
    image_before: str = ""
    image_after: str = ""
    no_images: str = ""
    tail: str = ""
    first_image: int = 1  # the number of the first image (`k`)
