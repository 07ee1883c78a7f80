"""The R1V4 table's published numbers, for `bench report --published`.

Source: the Skywork-R1V README table "Comparison of Skywork-R1V4 with Leading Multimodal
Models" (`SkyworkAI/Skywork-R1V@7c24efd:README.md:38-68`, 2025-12-15; the table is gone
from later READMEs), identical value for value to Table 2 of the R1V4 report
(`Skywork_R1V4.pdf`, p.9). Percentages, one decimal, as printed. Keys are this toolkit's
benchmark names and the README's split labels. How they were scored (the protocols behind
each row, and what is not published) is in `bench/README.md` and `r1v4.evals.benchmarks.registry`.
"""

from __future__ import annotations

__all__ = ["MODELS", "PUBLISHED", "SOURCE", "published"]

SOURCE = "SkyworkAI/Skywork-R1V@7c24efd:README.md:38-68 (= Skywork_R1V4.pdf Table 2)"

#: The table's columns, in its order; the first is R1V4 itself.
MODELS: tuple[str, ...] = (
    "Skywork-R1V4 30B(A3B)",
    "Qwen3-VL 30B(A3B)",
    "Qwen3-VL 235B(A22B)",
    "Gemini 2.5 Flash",
    "Gemini 2.5 Pro",
)

#: (benchmark, split) -> one value per model of MODELS, in the README's row order.
PUBLISHED: dict[tuple[str, str], tuple[float, ...]] = {
    ("hrbench-4k", "FSP"): (91.8, 88.5, 89.0, 81.5, 85.5),
    ("hrbench-4k", "FCP"): (73.8, 68.5, 77.0, 74.0, 82.3),
    ("hrbench-4k", "Overall"): (82.8, 78.5, 83.0, 77.5, 83.9),
    ("hrbench-8k", "FSP"): (88.8, 80.3, 83.0, 75.8, 83.0),
    ("hrbench-8k", "FCP"): (70.8, 68.3, 77.3, 71.8, 80.0),
    ("hrbench-8k", "Overall"): (79.8, 74.2, 80.4, 73.7, 81.5),
    ("mme-realworld", "Perception"): (73.4, 70.4, 74.3, 62.3, 73.1),
    ("mme-realworld", "Reasoning"): (56.4, 47.7, 52.5, 51.0, 58.2),
    ("mme-realworld", "Overall"): (71.4, 67.7, 71.6, 60.9, 71.3),
    ("mme-realworld-cn", "Perception"): (76.3, 72.6, 76.0, 65.8, 74.5),
    ("mme-realworld-cn", "Reasoning"): (59.4, 45.0, 53.8, 51.3, 58.3),
    ("mme-realworld-cn", "Overall"): (70.8, 63.7, 68.8, 61.2, 69.3),
    ("mme-realworld-lite", "Perception"): (63.2, 58.0, 60.2, 50.4, 59.9),
    ("mme-realworld-lite", "Reasoning"): (53.2, 46.3, 50.7, 49.9, 55.1),
    ("mme-realworld-lite", "Overall"): (59.3, 53.2, 56.5, 50.2, 58.3),
    ("vstar", "Attribute"): (90.4, 81.7, 79.1, 77.3, 86.8),
    ("vstar", "Spatial"): (84.2, 82.9, 82.9, 64.4, 68.4),
    ("vstar", "Overall"): (88.0, 82.2, 80.6, 72.3, 79.1),
    ("treebench", "Overall"): (48.4, 42.7, 49.6, 45.9, 54.6),
    ("visualprobe", "Hard"): (42.4, 30.1, 42.4, 28.3, 33.9),
    ("visualprobe", "Medium"): (42.9, 35.8, 39.1, 31.3, 35.4),
    ("visualprobe", "Easy"): (66.7, 65.2, 65.9, 45.3, 49.6),
    ("mmsearch", "Overall"): (66.1, 18.7, 48.0, 64.9, 71.9),
    ("fvqa", "Overall"): (67.2, 53.3, 54.4, 60.7, 72.0),
    ("browsecomp-vl", "Overall"): (38.4, 30.0, 31.6, 40.8, 45.4),
}


def published(benchmark: str, split: str, model: str = MODELS[0]) -> float | None:
    """A published figure, None when the table has no such row."""
    row = PUBLISHED.get((benchmark, split))
    return None if row is None else row[MODELS.index(model)]
