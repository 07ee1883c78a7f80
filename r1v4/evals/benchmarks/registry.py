"""The benchmarks of the R1V4 table: where each file comes from, how it is read, which
prompt style, scorer and figures reproduce the published protocol, and the layout
detection `python -m r1v4 import` uses.

A recipe's scorer is the one behind R1V4's published figure where that is known (the
VLMEvalKit rules for the perception rows, the R1V4 o3-mini judge for the deep-research
rows); the benchmark authors' own scorer is offered beside it (`other_scorers`). What is
not published — R1V4's system prompt and tool set for the perception rows, its VLMEvalKit
commit, the MMSearch / BrowseComp-VL subsets — is said in `notes`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from r1v4.evals.benchmarks import (
    browsecomp_vl,
    fvqa,
    mme_realworld,
    mmsearch,
    visualprobe,
    vlmevalkit,
    vstar,
)
from r1v4.evals.benchmarks.common import ReadOptions
from r1v4.evals.case_writer import CaseWriter, ImportResult
from r1v4.evals.tables import TableImportError, detect_format, iter_rows

__all__ = [
    "BENCHMARKS",
    "LAYOUTS",
    "Benchmark",
    "Layout",
    "Source",
    "benchmark",
    "describe",
    "detect_layout",
    "expand",
    "read_sources",
]

Reader = Callable[[Path, CaseWriter, ReadOptions], None]


@dataclass(frozen=True)
class Layout:
    """A distribution format and its reader."""

    name: str
    reader: Reader
    what: str


LAYOUTS: dict[str, Layout] = {
    layout.name: layout
    for layout in (
        Layout("vlmevalkit-tsv", vlmevalkit.read_tsv, "VLMEvalKit TSV (index, image, A-J, …)"),
        Layout("mme-realworld-json", mme_realworld.read_json, "MME-RealWorld JSON array"),
        Layout("vstar-folders", vstar.read_folders, "V* folders of .jpg + .json"),
        Layout("visualprobe-json", visualprobe.read_val_json, "VisualProbe val.json"),
        Layout("mmsearch-parquet", mmsearch.read_parquet, "MMSearch end2end Parquet"),
        Layout("fvqa-parquet", fvqa.read_parquet, "FVQA verl Parquet"),
        Layout("webwatcher-jsonl", browsecomp_vl.read_jsonl, "BrowseComp-VL / WebWatcher JSONL"),
    )
}


@dataclass(frozen=True)
class Source:
    """A file to download for a benchmark."""

    file: str
    url: str


@dataclass(frozen=True)
class Benchmark:
    """A recipe: how a benchmark is read, asked, scored and summed up."""

    name: str
    title: str  # the README's row label
    layouts: tuple[str, ...]  # accepted layouts, the first the usual one
    sources: tuple[Source, ...]
    scorer: str
    figures: str  # the aggregation rule (r1v4.evals.benchmarks.figures)
    prompt_style: str | None = None
    other_scorers: tuple[str, ...] = ()
    judge_model: str | None = None  # the judge the published figures used
    run: dict[str, Any] = field(default_factory=dict)  # agent settings the source used
    search: bool = False  # needs web search tools
    notes: str = ""


_HF = "https://huggingface.co/datasets"
_VLMEK_PERCEPTION = (
    "Scored with VLMEvalKit's rules (paper era, open-compass/VLMEvalKit@19c0e38); the commit "
    "R1V4 used, its system prompt and its tools for these rows are not published."
)
_DEEP = (
    "R1V4 ran skywork/r1v4-deepresearch with max_tokens 20480, temperature 0.2, no system "
    "prompt, and judged the first <answer> with o3-mini (SkyworkAI/Skywork-R1V@fdfbb84:"
    "r1v4/benchmark). How several gold answers were folded into one is not published: the "
    "judge is shown the first accepted answer."
)
_DEEP_RUN = {"temperature": 0.2, "max_tokens": 20480}

BENCHMARKS: dict[str, Benchmark] = {
    b.name: b
    for b in (
        Benchmark(
            "hrbench-4k", "HIRbench-4K", ("vlmevalkit-tsv",),
            (Source("hr_bench_4k.tsv", f"{_HF}/DreamMr/HR-Bench/resolve/main/hr_bench_4k.tsv"),),
            "vlmevalkit-mcq", "hrbench", "vlmevalkit", judge_model="chatgpt-0125",
            notes=_VLMEK_PERCEPTION + " FSP/FCP are the categories single/cross, each "
            "averaged over the option rotations (cycle_category).",
        ),
        Benchmark(
            "hrbench-8k", "HIRbench-8K", ("vlmevalkit-tsv",),
            (Source("hr_bench_8k.tsv", f"{_HF}/DreamMr/HR-Bench/resolve/main/hr_bench_8k.tsv"),),
            "vlmevalkit-mcq", "hrbench", "vlmevalkit", judge_model="chatgpt-0125",
            notes=_VLMEK_PERCEPTION,
        ),
        Benchmark(
            "mme-realworld", "MME-Real", ("mme-realworld-json", "vlmevalkit-tsv"),
            (Source("MME-RealWorld/*.json",
                    f"{_HF}/yifanzhang114/MME-RealWorld-Base64/tree/main/MME-RealWorld"),),
            "vlmevalkit-regex", "mme", "mme-realworld",
            notes=_VLMEK_PERCEPTION + " Perception/Reasoning are the first part of category.",
        ),
        Benchmark(
            "mme-realworld-cn", "MME-Real-CN", ("mme-realworld-json", "vlmevalkit-tsv"),
            (Source("MME-RealWorld-CN/*.json",
                    f"{_HF}/yifanzhang114/MME-RealWorld-Base64/tree/main/MME-RealWorld-CN"),),
            "vlmevalkit-regex", "mme", "mme-realworld-cn", notes=_VLMEK_PERCEPTION,
        ),
        Benchmark(
            "mme-realworld-lite", "MME-Real-Lite", ("vlmevalkit-tsv",),
            (Source("mme_realworld_lite.tsv", f"{_HF}/yifanzhang114/MME-RealWorld-Base64/"
                    "resolve/main/mme_realworld_lite.tsv"),),
            "vlmevalkit-regex", "mme", "mme-realworld", notes=_VLMEK_PERCEPTION,
        ),
        Benchmark(
            "vstar", "V*", ("vlmevalkit-tsv", "vstar-folders"),
            (Source("VStarBench.tsv", f"{_HF}/xjtupanda/VStar_Bench/resolve/main/VStarBench.tsv"),
             Source("direct_attributes/, relative_position/ (original release)",
                    f"{_HF}/craigwu/vstar_bench")),
            "vlmevalkit-mcq", "vstar", "vlmevalkit", judge_model="chatgpt-0125",
            notes=_VLMEK_PERCEPTION + " Attribute/Spatial are the two categories; the "
            "original folders list the correct option first, so the reader shuffles them.",
        ),
        Benchmark(
            "treebench", "TreeBench", ("vlmevalkit-tsv",),
            (Source("TreeBench.tsv", f"{_HF}/HaochenWang/TreeBench/resolve/main/TreeBench.tsv"),),
            "treebench", "treebench", "treebench",
            notes=_VLMEK_PERCEPTION + " mIoU reads <box>[x1,y1,x2,y2]</box> only in the "
            "first <think> (an agent's later boxes do not count).",
        ),
        Benchmark(
            "visualprobe", "Visual Probe", ("visualprobe-json",),
            tuple(Source(f"VisualProbe_{lvl}/val.json + images",
                         f"{_HF}/Mini-o3/VisualProbe_{lvl}") for lvl in ("Hard", "Medium", "Easy")),
            "mini-o3-judge", "visualprobe", judge_model="gpt-4o-2024-11-20",
            notes="How R1V4 scored VisualProbe is not published; this uses the benchmark "
            "authors' GPT-4o judge (Mini-o3). Hard/Medium/Easy are the three files.",
        ),
        Benchmark(
            "mmsearch", "MMSearch", ("mmsearch-parquet", "webwatcher-jsonl"),
            (Source("end2end.parquet (config end2end)", f"{_HF}/CaraJ/MMSearch"),),
            "r1v4-judge", "judged", other_scorers=("mmsearch-f1",), judge_model="o3-mini",
            run=_DEEP_RUN, search=True,
            notes=_DEEP + " Every published MMSearch figure is a k/171 fraction: prepare with "
            "--images-only for the image-bearing queries.",
        ),
        Benchmark(
            "fvqa", "FVQA", ("fvqa-parquet",),
            (Source("fvqa_test.parquet", f"{_HF}/lmms-lab/FVQA"),),
            "r1v4-judge", "judged", other_scorers=("fvqa-em",), judge_model="o3-mini",
            run=_DEEP_RUN, search=True, notes=_DEEP,
        ),
        Benchmark(
            "browsecomp-vl", "BrowseComp-VL", ("webwatcher-jsonl",),
            (Source("bc_vl_level1.jsonl, bc_vl_level2.jsonl + images/level{1,2}.tar",
                    "https://github.com/Alibaba-NLP/DeepResearch/tree/main/WebAgent/"
                    "WebWatcher/browsecomp-vl"),),
            "r1v4-judge", "judged", judge_model="o3-mini", run=_DEEP_RUN, search=True,
            notes=_DEEP + " The published figures do not fit all 399 questions; the subset "
            "R1V4 used is unknown.",
        ),
    )
}  # fmt: skip


def benchmark(name: str) -> Benchmark:
    """The recipe by name; KeyError naming the known ones."""
    try:
        return BENCHMARKS[name]
    except KeyError:
        raise KeyError(f"unknown benchmark {name!r}; known: {', '.join(BENCHMARKS)}") from None


def _first_keys(path: Path, fmt: str) -> set[str]:
    """The keys of a table's first row (cheap: one row read)."""
    names, rows = iter_rows(path, fmt)
    if fmt == "parquet":
        return set(names)
    for _, row in rows:
        if isinstance(row, dict):
            return set(row)
        break
    return set(names)


def detect_layout(path: Path, fmt: str | None = None) -> str:
    """The layout a file or folder is in: a named benchmark's, or "table" (the generic
    column reader of `r1v4.evals.importer`)."""
    if path.is_dir():
        if any((path / n).is_dir() for n in vstar.CATEGORIES) or any(path.glob("*.json")):
            jsons = sorted(path.glob("*.json"))
            if jsons and not any(path.glob("*.jpg")) and not any(path.glob("*.png")):
                return "mme-realworld-json"
            return "vstar-folders"
        raise TableImportError(f"{path}: a folder, but neither V* folders nor JSON files")
    fmt = fmt or detect_format(path)
    if fmt == "tsv":
        return "vlmevalkit-tsv"
    keys = _first_keys(path, fmt)
    if fmt == "parquet":
        if {"query", "gt_answer"} <= keys:
            return "mmsearch-parquet"
        if {"prompt", "reward_model"} <= keys:
            return "fvqa-parquet"
    if fmt == "json":
        if "multi-choice options" in keys or "Question_id" in keys:
            return "mme-realworld-json"
        if {"problem", "solution"} <= keys:
            return "visualprobe-json"
    if "answers" in keys and ({"image_path", "file_path"} & keys):
        return "webwatcher-jsonl"
    return "table"


def expand(sources: Iterable[Path]) -> list[Path]:
    """Files to read: a folder of MME-RealWorld JSON files becomes its files."""
    out: list[Path] = []
    for src in sources:
        if src.is_dir() and detect_layout(src) == "mme-realworld-json":
            out += sorted(src.glob("*.json"))
        else:
            out.append(src)
    return out


def read_sources(
    sources: list[Path],
    out: Path,
    options: ReadOptions,
    *,
    layout: str | None = None,
    accepted: tuple[str, ...] | None = None,
    images_dir: Path | None = None,
) -> ImportResult:
    """Read every source (its layout detected unless `layout` says) into one case file.
    `accepted` limits the layouts (a benchmark's own); TableImportError otherwise."""
    files = expand(sources)
    plan: list[tuple[Path, Layout]] = []
    for src in files:
        if not src.exists():
            raise TableImportError(f"{src}: no such file or folder")
        name = layout or detect_layout(src, options.fmt)
        if name not in LAYOUTS or (accepted and name not in accepted):
            want = ", ".join(accepted or tuple(LAYOUTS))
            raise TableImportError(
                f"{src}: read as {name!r}, but this needs one of: {want} (--layout to say which)"
            )
        plan.append((src, LAYOUTS[name]))
    with CaseWriter(out, images_dir) as writer:
        for src, chosen in plan:
            chosen.reader(src, writer, options)
        writer.result.columns = {"layout": ", ".join(dict.fromkeys(c.name for _, c in plan))}
    return writer.result


def describe(b: Benchmark) -> dict[str, Any]:
    """A recipe as plain data (for `bench list --json`)."""
    return dataclasses.asdict(b)
