"""Inside the jail: Thyme's code, rewritten before it runs as Thyme's own sandbox rewrites
it (`yfzhang114/Thyme@b9285b7:eval/VLMEvalKit/vlmeval/vlm/thyme/sandbox.py`; verbatim notes
in /work/notes/dialects/thyme.md §3). The model was trained against these rewrites, so its
code relies on them:

- `align_first_line_to_second` (a first line indented unlike the second takes the second's
  indentation), then `textwrap.dedent` (sandbox.py, `_sandboxed_execution_target`);
- `ImagePathTransformer`: `image_path = "<literal>"` naming no existing image file is made to
  name the case's image (the README's example writes `image_path = "/eval/17127.jpg"`);
- `CropCoordinateTransformer` (cases 1 and 2): numeric boxes assigned as `x1, y1, x2, y2 =
  …` (names among x1/y1/x2/y2/left/top/right/bottom) or to `crop_box`, `bbox`, `box`,
  `coordinates`, … are ordered, clamped to the image and grown to `MIN_CROP_DIMENSION` = 64
  px a side (`_clamp_coordinates`, copied); the image is the case's input image;
- `OpenCVNamespaceTransformer`: `cv.`, `cv3.`, `cv4.`, `CV.` become `cv2.`;
- the output folder `/mnt/data/temp_processed_images/` becomes `./temp_processed_images/`
  (made, with any subfolder the code's quoted paths imply), and `:.Nf}` format specs become
  `:.8f}`.

Not reproduced: case 3 of the crop transformer (slices `image[y1:y2, x1:x2]`): it tests for
`ast.Index`, which Python 3.9 and later never produce, so the published sandbox never
applies it either. autopep8's reformatting (cosmetic for code that parses), the regex
blocklist and the restricted builtins (this sandbox isolates the process instead).
"""

from __future__ import annotations

import ast
import os
import re
import textwrap

MIN_CROP_DIMENSION = 64
ORIGINAL_OUTPUT_PREFIX = "/mnt/data/temp_processed_images/"
TEMP_OUTPUT_DIR = "./temp_processed_images/"
VALID_IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tiff", ".webp")
_COORD_NAMES = ("x1", "y1", "x2", "y2", "left", "top", "right", "bottom")
_KNOWN_COORD_VARS = (
    "crop_box",
    "bbox",
    "box",
    "coordinates",
    "coords",
    "crop_coords",
    "left_crop_coords",
    "right_crop_coords",
    "top_crop_coords",
    "bottom_crop_coords",
)


def align_first_line_to_second(code: str) -> str:
    """The first non-blank line takes the second's indentation when they differ."""
    lines = code.splitlines()
    found = [i for i, line in enumerate(lines) if line.strip()][:2]
    if len(found) < 2:
        return code
    first, second = lines[found[0]], lines[found[1]]
    indent = " " * (len(second) - len(second.lstrip(" ")))
    if " " * (len(first) - len(first.lstrip(" "))) != indent:
        lines[found[0]] = indent + first.lstrip(" ")
    return "\n".join(lines)


class _ImagePath(ast.NodeTransformer):
    def __init__(self, replacement: str) -> None:
        self.replacement = replacement
        self.changed = False

    def visit_Assign(self, node: ast.Assign) -> ast.AST:
        target = node.targets[0] if len(node.targets) == 1 else None
        if isinstance(target, ast.Name) and target.id == "image_path":
            value = node.value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                path = value.value
                valid = os.path.isfile(path) and path.lower().endswith(VALID_IMAGE_EXTENSIONS)
                if not valid:
                    node.value = ast.Constant(value=self.replacement)
                    self.changed = True
        return self.generic_visit(node)


def clamp_box(x1: float, y1: float, x2: float, y2: float, w: float, h: float) -> list[float]:
    """Thyme's `_clamp_coordinates`: ordered, inside the image, at least 64 px a side."""
    fx1, fx2 = _clamp_axis(min(x1, x2), max(x1, x2), float(w))
    fy1, fy2 = _clamp_axis(min(y1, y2), max(y1, y2), float(h))
    return [fx1, fy1, fx2, fy2]


def _clamp_axis(c1: float, c2: float, size: float) -> tuple[float, float]:
    lo = min(max(0.0, c1), size - 1.0 if size > 0 else 0.0)
    hi = min(max(0.0, c2), size)
    if lo >= hi and size > 0:
        lo = max(0.0, hi - 1.0)
        if hi <= lo:
            hi = min(size, lo + 1.0)
    if size > 0 and hi - lo < MIN_CROP_DIMENSION:
        if size < MIN_CROP_DIMENSION:
            lo, hi = 0.0, size
        else:
            hi = lo + MIN_CROP_DIMENSION
            if hi > size:
                hi = size
                lo = max(0.0, hi - MIN_CROP_DIMENSION)
    if size > 0 and lo >= hi:
        hi = min(size, lo + 1.0)
    return lo, hi


def _number(node: ast.AST) -> float | None:
    if isinstance(node, ast.Constant) and isinstance(node.value, int | float):
        if not isinstance(node.value, bool):
            return node.value
    return None


class _CropBoxes(ast.NodeTransformer):
    def __init__(self, width: int, height: int) -> None:
        self.size = (width, height)
        self.changed = False

    def _clamp(self, elts: list[ast.expr]) -> None:
        raw = [_number(v) for v in elts]
        if any(v is None for v in raw):
            return
        clamped = clamp_box(*raw, *self.size)  # type: ignore[arg-type]
        if [int(round(v)) for v in clamped] != [int(round(v)) for v in raw]:  # type: ignore[arg-type]
            self.changed = True
            for i, v in enumerate(clamped):
                elts[i] = ast.Constant(value=int(round(v)))

    def visit_Assign(self, node: ast.Assign) -> ast.AST:
        target = node.targets[0] if len(node.targets) == 1 else None
        value = node.value
        four = isinstance(value, ast.Tuple) and len(value.elts) == 4
        if four and isinstance(target, ast.Tuple) and len(target.elts) == 4:
            names = [t.id.lower() for t in target.elts if isinstance(t, ast.Name)]
            if len(names) == 4 and any(n in _COORD_NAMES for n in names):
                self._clamp(value.elts)  # case 1
        elif four and isinstance(target, ast.Name) and target.id in _KNOWN_COORD_VARS:
            self._clamp(value.elts)  # case 2
        return self.generic_visit(node)


class _OpenCV(ast.NodeTransformer):
    def __init__(self) -> None:
        self.changed = False

    def visit_Attribute(self, node: ast.Attribute) -> ast.AST:
        if isinstance(node.value, ast.Name) and node.value.id in ("cv", "cv4", "cv3", "CV"):
            node.value.id = "cv2"
            self.changed = True
        return self.generic_visit(node)


def _transform(code: str, transformer: ast.NodeTransformer) -> str:
    """The code after one transformer (unchanged when it does not parse or nothing changed,
    as in Thyme's sandbox)."""
    try:
        tree = transformer.visit(ast.parse(code))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return code
    return ast.unparse(tree) if getattr(transformer, "changed", False) else code


def _image_size(path: str) -> tuple[int, int] | None:
    try:
        from PIL import Image

        with Image.open(path) as img:
            return img.size
    except Exception:  # noqa: BLE001 - no size: no clamping, as in Thyme's sandbox
        return None


def _make_output_dirs(code: str) -> None:
    os.makedirs(TEMP_OUTPUT_DIR, exist_ok=True)
    quoted = re.compile(r"(['\"])(" + re.escape(ORIGINAL_OUTPUT_PREFIX) + r"[^'\"]*)\1")
    for match in quoted.finditer(code):
        sub = os.path.dirname(match.group(2)[len(ORIGINAL_OUTPUT_PREFIX) :].replace(" ", ""))
        target = os.path.normpath(os.path.join(TEMP_OUTPUT_DIR, sub))
        if sub and not target.startswith(".."):
            os.makedirs(target, exist_ok=True)


def rewrite(code: str, image_path: object) -> str:
    """Thyme's rewrites, in its order (see the module docstring)."""
    code = textwrap.dedent(align_first_line_to_second(code)).strip()
    if isinstance(image_path, str) and image_path:
        code = _transform(code, _ImagePath(image_path))
        size = _image_size(image_path)
        if size is not None:
            code = _transform(code, _CropBoxes(*size))
    code = _transform(code, _OpenCV())
    _make_output_dirs(code)
    code = code.replace(ORIGINAL_OUTPUT_PREFIX, TEMP_OUTPUT_DIR)
    return re.sub(r":\.\d{1}f}", ":.8f}", code)
