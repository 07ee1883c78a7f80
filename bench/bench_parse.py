"""Parser throughput: r1v4.parsing against a regex re-implementation of the seed's approach.

Generates a corpus of long R1V4-style trajectories (think → code/search calls → JSON
observations with image references → answer; ``--embed`` puts data-URL images in some
observations, as ``--embed-images`` runs do), then times, in the same run:

* baseline  — the seed's approach, written here: four ``re.findall`` passes, pair by index,
              ``json.loads`` each body;
* one-shot  — ``r1v4.parsing.parse_full_response``;
* streaming — ``r1v4.parsing.IncrementalParser`` fed in small chunks, as an SSE stream arrives.

Two corpora: typical short responses (a think and an answer, half of them with one code
call; 1-4 KB), where per-call overhead shows, and long trajectories. Prints MB/s,
per-response latency percentiles and ratios against the baseline (medians of ``--repeat``
runs); it also checks that both parsers agree on these well-formed corpora (the seed's
fields only).

    python bench/bench_parse.py                 # default: well under a minute on 2 cores
    python bench/bench_parse.py --cases 2000 --embed 0.3 --repeat 5
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from r1v4.parsing import IncrementalParser, parse_full_response  # noqa: E402

# ---------------------------------------------------------------------------------------------
# Baseline: the seed's approach (regex per tag, pair by index), written for this benchmark.

_THINK = re.compile(r"<think>(.*?)</think>", re.DOTALL)
_CALL = re.compile(r"<tool_call>(.*?)</tool_call>", re.DOTALL)
_OBS = re.compile(r"<observation>(.*?)</observation>", re.DOTALL)
_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)


def _loads_or_text(body: str) -> tuple[object, str | None]:
    try:
        return json.loads(body.strip()), None
    except json.JSONDecodeError as exc:
        return body.strip(), str(exc)


def baseline_parse(text: str) -> dict:
    thinks, calls = _THINK.findall(text), _CALL.findall(text)
    observations, answers = _OBS.findall(text), _ANSWER.findall(text)
    rounds = []
    for i, call in enumerate(calls):
        rnd = {
            "round_num": i + 1,
            "think": thinks[i].strip() if i < len(thinks) else "",
            "tool_call": None,
            "observation": None,
        }
        rnd["tool_call"], err = _loads_or_text(call)
        if err:
            rnd["tool_call_parse_error"] = err
        if i < len(observations):
            rnd["observation"], err = _loads_or_text(observations[i])
            if err:
                rnd["observation_parse_error"] = err
        rounds.append(rnd)
    final = {
        "think": thinks[-1].strip() if len(thinks) > len(calls) else "",
        "answer": answers[0].strip() if answers else "",
    }
    return {"rounds": rounds, "final_round": final}


# ---------------------------------------------------------------------------------------------
# Corpus

WORDS = (
    "the image shows a small region near the left edge where text is hard to read so I will "
    "crop and zoom into it then compare the colours and the shapes with the question before "
    "searching for the landmark name and verifying it against a second source"
).split()


def _prose(rng: random.Random, words: int) -> str:
    lines, line = [], []
    for _ in range(words):
        line.append(rng.choice(WORDS))
        if len(line) > 14:
            lines.append(" ".join(line).capitalize() + ".")
            line = []
    return "\n".join(lines + [" ".join(line)])


def _data_url(rng: random.Random, size: int) -> str:
    return "data:image/png;base64," + base64.b64encode(rng.randbytes(size)).decode()


def make_trajectory(rng: random.Random, embed: float) -> str:
    parts = []
    for r in range(rng.randint(3, 12)):
        parts.append(f"<think>\n{_prose(rng, rng.randint(40, 400))}\n</think>\n")
        if rng.random() < 0.6:
            code = (
                "from PIL import Image\nimg = Image.open(image_path)\n"
                f"crop = img.crop(({r * 10}, 40, {r * 10 + 300}, 340))\n"
                "crop = crop.resize((crop.width * 2, crop.height * 2))\n"
                f"crop.save('crop_{r}.png')\nprint('saved', crop.size)"
            )
            call = {"name": "code", "arguments": {"code": code}}
            images = (
                [_data_url(rng, rng.randint(20_000, 120_000))]
                if rng.random() < embed
                else [f"results.jsonl.assets/case/{rng.getrandbits(64):016x}.png"]
            )
            obs = {"type": "code", "result": f"saved ({600}, {600})\n", "images": images}
        else:
            call = {"name": "text_search", "arguments": {"queries": [_prose(rng, 6)]}}
            hits = [
                {
                    "title": _prose(rng, 8),
                    "link": f"https://example.org/{i}",
                    "snippet": _prose(rng, 50),
                }
                for i in range(5)
            ]
            obs = {"type": "text_search", "result": json.dumps(hits), "images": []}
        parts.append(f"<tool_call>{json.dumps(call)}</tool_call>\n")
        parts.append(f"<observation>{json.dumps(obs)}</observation>\n")
    parts.append(f"<think>\n{_prose(rng, 120)}\n</think>\n<answer>\n{_prose(rng, 30)}\n</answer>")
    return "".join(parts)


def make_short(rng: random.Random) -> str:
    """A typical short response, 0.2 to 4 KB: a think and an answer, half the time with
    one code call and its observation between."""
    parts = [f"<think>\n{_prose(rng, rng.randint(15, 300))}\n</think>\n"]
    if rng.random() < 0.5:
        code = "from PIL import Image\nimg = Image.open(image_path)\nprint(img.size)"
        call = {"name": "code", "arguments": {"code": code}}
        obs = {"type": "code", "result": "(1024, 768)\n", "images": []}
        parts.append(f"<tool_call>{json.dumps(call)}</tool_call>\n")
        parts.append(f"<observation>{json.dumps(obs)}</observation>\n")
        parts.append(f"<think>\n{_prose(rng, rng.randint(20, 120))}\n</think>\n")
    parts.append(f"<answer>\n{_prose(rng, rng.randint(5, 40))}\n</answer>")
    return "".join(parts)


# ---------------------------------------------------------------------------------------------
# Timing


def _stream(text: str, chunk: int) -> dict:
    parser = IncrementalParser()
    for i in range(0, len(text), chunk):
        parser.feed(text[i : i + chunk])
    parser.close()
    return parser.result()


def time_parser(fn: Callable[[str], object], corpus: list[str], repeat: int) -> dict:
    """Median-of-``repeat`` wall time over the corpus, plus per-response latencies of that
    run."""
    fn(corpus[0])  # warm-up
    runs = []
    for _ in range(repeat):
        lat = []
        t0 = time.perf_counter()
        for text in corpus:
            t = time.perf_counter()
            fn(text)
            lat.append(time.perf_counter() - t)
        runs.append((time.perf_counter() - t0, lat))
    runs.sort(key=lambda run: run[0])
    total, lat = runs[len(runs) // 2]
    lat.sort()
    pick = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]  # noqa: E731
    return {"s": total, "p50_ms": pick(0.5) * 1e3, "p99_ms": pick(0.99) * 1e3, "runs": repeat}


def seed_fields(parsed: dict) -> dict:
    strip = ("images", "incomplete")
    return {
        "rounds": [{k: v for k, v in r.items() if k not in strip} for r in parsed["rounds"]],
        "final_round": {k: v for k, v in parsed["final_round"].items() if k not in strip},
    }


def compare(name: str, corpus: list[str], args: argparse.Namespace, stream: bool) -> int:
    """Time the parsers on one corpus; print MB/s and ratios. Returns the mismatches."""
    mb = sum(len(t.encode()) for t in corpus) / 1e6
    mismatches = sum(seed_fields(parse_full_response(t)) != baseline_parse(t) for t in corpus)
    print(f"\n{name}: {len(corpus)} responses, {mb:.2f} MB; agreement with the seed's approach "
          f"on this well-formed corpus: {len(corpus) - mismatches}/{len(corpus)}")  # fmt: skip
    runs = {
        "baseline (seed regex)": time_parser(baseline_parse, corpus, args.repeat),
        "r1v4 one-shot": time_parser(parse_full_response, corpus, args.repeat),
    }
    if stream:
        runs[f"r1v4 streaming ({args.chunk}-char chunks)"] = time_parser(
            lambda t: _stream(t, args.chunk), corpus, args.repeat
        )
    base = runs["baseline (seed regex)"]["s"]
    print(f"{'parser':<34}{'MB/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'vs baseline':>13}")
    for label, r in runs.items():
        print(
            f"{label:<34}{mb / r['s']:>9.1f}{r['p50_ms']:>9.3f}{r['p99_ms']:>9.3f}"
            f"{base / r['s']:>12.2f}x"
        )
    ratio = base / runs["r1v4 one-shot"]["s"]
    print(f"target one-shot >= 1.0x the seed's regexes: {ratio:.2f}x "
          f"({'met' if ratio >= 1.0 else 'NOT met'})")  # fmt: skip
    return mismatches


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--cases", type=int, default=400, help="long trajectories in the corpus")
    ap.add_argument("--short", type=int, default=4000, help="short responses in that corpus")
    ap.add_argument(
        "--embed", type=float, default=0.15, help="share of observations with data URLs"
    )
    ap.add_argument("--repeat", type=int, default=3, help="timed runs per parser (median kept)")
    ap.add_argument("--chunk", type=int, default=16, help="stream chunk size in characters")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)

    rng = random.Random(args.seed)
    short = [make_short(rng) for _ in range(args.short)]
    long = [make_trajectory(rng, args.embed) for _ in range(args.cases)]
    print(f"seed={args.seed}, embed={args.embed}, median of {args.repeat} runs")
    bad = compare("typical short responses (0.2-4 KB)", short, args, stream=False)
    bad += compare("long trajectories", long, args, stream=True)
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
