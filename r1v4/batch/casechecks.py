"""Checks of the cases' own fields that need the agent's registries (dialects, prompt
styles): a case naming one that does not exist is a bad line, reported with its file and
line, before any case runs. And what the dialects a batch uses need of the code sandbox."""

from __future__ import annotations

from r1v4.agent.dialects.registry import DIALECT_NAMES, DIALECTS
from r1v4.agent.prompts import options_template
from r1v4.protocol.cases import Case, CaseError
from r1v4.tools.code_profile import Requirement

__all__ = ["code_requirements", "known_dialects", "known_styles"]


def known_dialects(cases: list[Case]) -> tuple[list[Case], list[CaseError]]:
    """Cases whose `dialect` field names a known dialect (or is absent), and an error naming
    the line and field for each that does not."""
    good: list[Case] = []
    bad: list[CaseError] = []
    for case in cases:
        if case.dialect is None or case.dialect in DIALECTS:
            good.append(case)
        else:
            known = ", ".join(DIALECT_NAMES)
            reason = f"field 'dialect': unknown dialect {case.dialect!r} (known: {known})"
            bad.append(CaseError(case.input_file, case.line, reason))
    return good, bad


def known_styles(cases: list[Case], bad: list[CaseError]) -> list[Case]:
    """Cases whose `prompt_style` names a template; the others become bad lines."""
    kept = []
    for case in cases:
        try:
            options_template(case.prompt_style)
        except ValueError as exc:
            bad.append(CaseError(case.input_file, case.line, f"field 'prompt_style': {exc}"))
            continue
        kept.append(case)
    return kept


def code_requirements(run_dialect: str, cases: list[Case]) -> list[Requirement]:
    """The modules the code of the batch's dialects (the run's, and any a case names)
    imports as a matter of course, for the sandbox's self-test to import first."""
    names = dict.fromkeys([run_dialect] + [c.dialect for c in cases if c.dialect is not None])
    out: list[Requirement] = []
    for name in names:
        dialect = DIALECTS.get(name)
        profile = dialect.code if dialect is not None else None
        for module, package in profile.requires if profile is not None else ():
            out.append(Requirement(module, package, f"the {name} dialect"))
    return out
