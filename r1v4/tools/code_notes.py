"""What the model reads when a code call ends: the captured output plus one note on how
the run ended (timeout, memory for the process or the whole call, a signal, an exit
code), and the error summary the record keeps.
"""

from __future__ import annotations

import errno
import signal

from r1v4.tools.code_settings import CodeSettings
from r1v4.tools.sandbox.limits import Limits
from r1v4.tools.sandbox.replies import Outcome

SIGNAL_MEANING = {
    signal.SIGSEGV: "a segmentation fault (a crash in native code)",
    signal.SIGBUS: "a bus error (a crash in native code)",
    signal.SIGABRT: "an abort (a crash in native code)",
    signal.SIGFPE: "a floating-point exception in native code",
    signal.SIGILL: "an illegal instruction in native code",
}


def format_outcome(outcome: Outcome, settings: CodeSettings) -> tuple[str, str | None]:
    """The captured output plus a note on how the run ended; and an error summary, if any."""
    notes, error = outcome_notes(outcome, settings)
    text = outcome.output + outcome.stderr
    if notes:
        text = (text.rstrip("\n") + "\n" if text.strip() else "") + "\n".join(
            f"[sandbox] {n}" for n in notes
        )
    return text, error


def outcome_notes(outcome: Outcome, settings: CodeSettings) -> tuple[list[str], str | None]:
    """The notes on how the run ended (for the model; the conventions' own first), and an
    error summary, if any."""
    notes: list[str] = list(outcome.notes)
    error: str | None = None
    limits = settings.limits()
    if outcome.worker_lost:
        error = "the sandbox worker stopped"
        notes.append(
            "the sandbox stopped unexpectedly while running this code (it has been restarted); "
            "the code may not have finished."
        )
    elif outcome.setup_error:
        error = f"sandbox setup failed: {outcome.setup_error}"
        notes.append(f"the code could not be started: {outcome.setup_error}")
    elif outcome.timed_out:
        error = f"timed out after {settings.timeout_s:g} s"
        notes.append(
            f"timed out after {settings.timeout_s:g} s: the code was stopped and all its "
            "processes were killed."
        )
    elif outcome.cancelled:
        error = "cancelled"
        notes.append("the call was cancelled.")
    elif outcome.memory and outcome.memory_scope == "call":
        error = f"memory limit of {limits.memory_mb} MB reached"
        notes.append(
            f"memory limit of {limits.memory_mb} MB for the whole call (all its processes "
            "and files) reached: the kernel stopped a process of the call."
        )
    elif outcome.memory:
        error = f"memory limit of {limits.memory_mb} MB reached"
        notes.append(f"memory limit of {limits.memory_mb} MB reached ({outcome.exc}).")
    elif outcome.signal is not None:
        error, note = signal_note(outcome.signal, limits)
        notes.append(note)
    elif outcome.exc:
        error = f"{outcome.exc} raised"
        if outcome.exc == "BlockingIOError":
            notes.append(f"note: at most {limits.max_procs} processes may run at once.")
    elif outcome.exit_code not in (0, None):
        error = f"exit code {outcome.exit_code}"
        notes.append(f"the code exited with code {outcome.exit_code}.")
    if outcome.omitted_bytes:
        notes.append(
            f"output was {outcome.total_bytes} bytes; only its beginning and end are shown "
            f"(limit {settings.max_output_chars} characters)."
        )
    return notes, error


def signal_note(signum: int, limits: Limits) -> tuple[str, str]:
    try:
        name = signal.Signals(signum).name
    except ValueError:
        name = f"signal {signum}"
    if signum == signal.SIGXCPU:
        return "CPU time limit reached", f"CPU time limit of {limits.cpu_s:g} s reached ({name})."
    if signum == signal.SIGXFSZ:
        return (
            "file size limit exceeded",
            f"a file grew past the limit of {limits.max_file_mb} MB ({name}); "
            "the code was stopped.",
        )
    if signum == signal.SIGKILL:
        return (
            "killed",
            f"the code was killed ({name}), most likely for exceeding the memory limit of "
            f"{limits.memory_mb} MB.",
        )
    meaning = SIGNAL_MEANING.get(signum, "a signal")
    return f"crashed with {name}", f"the process crashed with {meaning} ({name})."


def staging_error(exc: OSError, settings: CodeSettings) -> str:
    """What the model reads when the trajectory's images do not fit in the folder."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return (
            "the images of this task do not fit in the code tool's working folder "
            f"({settings.disk_mb} MB, {settings.max_files} files); the code was not run."
        )
    return f"could not copy the images into the code sandbox: {exc.strerror or exc}"
