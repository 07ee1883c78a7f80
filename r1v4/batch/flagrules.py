"""What the `format` flag expects of each dialect's trajectories, read from the dialect
registry: an `<answer>` unit where the family answers in one (R1V4, DeepEyes, Mini-o3),
free text where it does not (Qwen3-VL); thinks where the family's prompt asks for them
(every family here but Qwen3-VL, whose Instruct models write none)."""

from __future__ import annotations

import dataclasses

from r1v4.agent.dialects.registry import DIALECTS
from r1v4.evals.flags import FlagSettings, FormatRule

__all__ = ["format_rules", "with_format_rules"]


def format_rules() -> dict[str, FormatRule]:
    """One rule per registered dialect."""
    return {
        name: FormatRule(answer_tag=not d.free_text_answer, think=not d.free_text_answer)
        for name, d in DIALECTS.items()
    }


def with_format_rules(settings: FlagSettings) -> FlagSettings:
    """The same thresholds, holding each record to its dialect's format."""
    return dataclasses.replace(settings, formats=format_rules())
