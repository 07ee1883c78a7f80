"""Two real runs over the flag cases (`flag_cases`), for the viewer and export tests: run A
as the cases are scripted (with a scripted consistency judge), run B with two answers
changed, so a comparison has a case flipped to correct and one flipped to wrong. Both go
through the real batch, the real sandbox and the real flagging, with categories set.

Run it as a script to make them somewhere and browse them by hand:
    python -m tests.helpers.insight_runs /tmp/insight && python visual.py 8080 /tmp/insight/a.jsonl
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from r1v4.sim import running_simulator
from tests.helpers import run_cli, write_jsonl
from tests.helpers.flag_cases import ANSWER_4, JUDGE_SCRIPTS, flag_cases, make_scene

CATEGORIES = ("charts", "photos", "signs")
#: Run B's changes: wrong_answer now right (flipped to correct), clean now wrong.
B_TURNS = {
    "wrong_answer": ["<think>Looking again, it is 4.</think><answer>4</answer>"],
    "clean": ["<think>It looks like 5 to me.</think><answer>5</answer>"],
}


def make_runs(root: Path) -> tuple[Path, Path]:
    """Write scene.png, cases.jsonl, a.jsonl and b.jsonl (with their assets) under root, and
    beside each the request bodies the simulated model received (`<run>.requests.json`)."""
    make_scene(root / "scene.png")
    cases, scripts = flag_cases("scene.png")
    for i, case in enumerate(cases):
        case["category"] = CATEGORIES[i % len(CATEGORIES)]
    write_jsonl(root / "cases.jsonl", cases)
    scripts_b = [{**s, "turns": B_TURNS.get(s["id"], s["turns"])} for s in scripts]
    a, b = root / "a.jsonl", root / "b.jsonl"
    with running_simulator(scripts=JUDGE_SCRIPTS) as judge:
        judged = [
            "--consistency-judge-base-url",
            judge.base_url,
            "--consistency-judge-model",
            "vlm",
        ]
        for out, plays in ((a, scripts), (b, scripts_b)):
            with running_simulator(scripts=plays) as sim:
                argv = [str(root / "cases.jsonl"), str(out), "--base-url", sim.base_url]
                run_cli([*argv, "--concurrency", "4", *judged])
                # what the model was sent, for tests that rebuild it from the record
                Path(f"{out}.requests.json").write_text(json.dumps(sim.requests))
    return a, b


__all__ = ["ANSWER_4", "B_TURNS", "CATEGORIES", "make_runs"]

if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "insight-demo")
    target.mkdir(parents=True, exist_ok=True)
    print(*make_runs(target.resolve()))
