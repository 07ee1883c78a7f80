"""What the dialects of a batch need of the code sandbox, before any case runs."""

from __future__ import annotations

from r1v4.batch.casechecks import code_requirements
from r1v4.protocol.cases import Case


def case(dialect: str | None) -> Case:
    return Case(id="c", question="q", line=1, dialect=dialect)


def test_requirements_come_from_the_run_dialect_and_every_case_dialect_once() -> None:
    assert code_requirements("r1v4", [case(None)]) == []  # the toolkit's own: Pillow, NumPy
    got = code_requirements("r1v4", [case("thyme"), case("thyme"), case("pyvision")])
    assert [(r.module, r.package, r.needed_by) for r in got] == [
        ("cv2", "opencv-python-headless", "the thyme dialect"),
        ("matplotlib", "matplotlib", "the pyvision dialect"),
    ]
    (only,) = code_requirements("thyme", [case("thyme"), case("no-such-dialect")])
    assert only.module == "cv2"  # an unknown name is the case check's to report
