"""How a model family expects its Python to be run: the sandbox conventions a dialect asks
for (docs/DESIGN.md, "Code sandbox"), as data the code tool turns into each call's request.

The sandbox's guarantees are the same for every profile; a profile only chooses among
conventions the published sandboxes of the families differ in:

- `session`: one interpreter per case, so variables persist (a Jupyter kernel, DeepEyesV2;
  Thyme's kept locals; PyVision's persistent runtime).
- `preload`: the case's input images opened into variables before the model's first code
  (`image_1`… for DeepEyesV2, `image_clue_0`… for PyVision), holding exactly the pixels the
  model was sent (the staged files are those pixels); `preload_rgb` converts them as
  PyVision's runtime does.
- `prelude`: trusted imports run once per interpreter before the model's first code (the
  families' own headers: `import matplotlib.pyplot as plt`…).
- `figures`: `plt.show()` captured, each figure rendered to PNG inside the jail and returned
  like an image the code saved.
- `read_only`: the working folder cannot be written ("Writing file to disk is not
  allowed", DeepEyesV2); only the captured figures come back.
- `split_streams`: stdout and stderr kept apart (DeepEyesV2's observation shows both).
- `rewrite`: a family's published rewrite of the code before it runs (`"thyme"`: Thyme's
  output folder, image path and crop-box rewrites).
- `variables`: more predefined variables (Thyme's `temp_output_dir`).
- `requires`: modules beyond Pillow and NumPy the family's code imports as a matter of
  course, with the package that provides each (Thyme writes OpenCV; PyVision and DeepEyesV2
  show matplotlib figures). The batch's sandbox self-test imports them before any case: a
  missing one would fail most of the family's calls, each case still "succeeding" with tool
  errors in its trajectory.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

# The hidden folder inside a call's working folder where the sandbox keeps what it writes
# itself (captured figures, matplotlib's cache); writable even when the folder is not.
from r1v4.tools.sandbox.conventions import HELPER_DIR

__all__ = ["HELPER_DIR", "CodeProfile", "Figures", "Requirement"]


@dataclass(frozen=True)
class Figures:
    """How matplotlib figures come back."""

    show: Literal["all", "current"] = "all"  # plt.show() renders every open figure, or the current
    tight: bool = True  # saved with bbox_inches="tight" (DeepEyesV2), else the whole figure
    at_end: bool = False  # figures still open when the code ends come back too

    def request(self) -> dict[str, Any]:
        return {"show": self.show, "tight": self.tight, "at_end": self.at_end}


@dataclass(frozen=True)
class Requirement:
    """A module a dialect's code imports as a matter of course (`CodeProfile.requires`), as
    the sandbox's self-test checks it."""

    module: str
    package: str  # what to pip install
    needed_by: str  # who imports it, for the message: "the thyme dialect"


@dataclass(frozen=True)
class CodeProfile:
    """The conventions of one family (see the module docstring); the default is the
    toolkit's own: a fresh process per call, images by file name only."""

    session: bool = False
    preload: str | None = None  # the variable name template, with {i}
    preload_start: int = 1  # the number of the first input image
    preload_rgb: bool = False
    prelude: str = ""
    figures: Figures | None = None
    read_only: bool = False
    split_streams: bool = False
    rewrite: Literal["thyme"] | None = None
    variables: tuple[tuple[str, Any], ...] = ()
    requires: tuple[tuple[str, str], ...] = ()  # (module, the package to pip install)

    def preloads(self, inputs: list[str]) -> list[list[str]]:
        """[variable, staged file name] for each input image."""
        if self.preload is None:
            return []
        return [
            [self.preload.format(i=i), name] for i, name in enumerate(inputs, self.preload_start)
        ]

    def interpreter(self) -> dict[str, Any]:
        """What holds for the whole interpreter (a session's, or a one-shot call's)."""
        return {
            "split": self.split_streams,
            "read_only": self.read_only,
            "figures": self.figures.request() if self.figures is not None else None,
        }

    def call(self, inputs: list[str], *, first: bool) -> dict[str, Any]:
        """The conventions of one call; `first`: the interpreter runs its first code (the
        prelude and the preloads go only there, so a session keeps what the model did)."""
        conv = self.interpreter()
        conv["rewrite"] = self.rewrite
        if first:
            conv["prelude"] = self.prelude
            conv["preload"] = self.preloads(inputs)
            conv["preload_rgb"] = self.preload_rgb
        return conv

    @property
    def default(self) -> bool:
        return self == CodeProfile()
