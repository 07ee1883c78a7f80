"""The `code` tool: run the model's Python on the case's images in the sandbox.

Each call gets a fresh working folder (its own size- and inode-capped tmpfs where the
toolkit runs as root) holding copies of the case's images and of the trajectory's earlier
intermediate images; `image_path` and `image_paths` name them. What the code prints comes
back as text, and the images it saves there (or prints the path of) come back as
intermediate images, re-encoded as PNG inside the jail. Every way the code can fail —
exception, timeout, memory, crash, `os._exit`, a full disk — becomes a clear note in the
observation, never a crashed case, and never touches another case's call.

With `CodeSettings.session` (the `--code-session` mode) one sandboxed interpreter lives per
trajectory so variables persist between rounds; the default, as R1V4 was trained, is a
fresh process per call. A model family's own conventions (a persistent kernel, preloaded
image variables, `plt.show()` figures, a read-only folder, stdout and stderr apart) come
with the trajectory's `ToolContext.code_profile` (`r1v4.tools.code_profile`).
"""

from __future__ import annotations

import asyncio
import functools
import itertools
import logging
import os
from pathlib import Path
from typing import Any

from r1v4.protocol.regions import Region
from r1v4.tools import ToolContext, ToolError, ToolImage, ToolResult, ToolSpec
from r1v4.tools import regions as regions_
from r1v4.tools.code_notes import format_outcome, outcome_notes, staging_error
from r1v4.tools.code_profile import HELPER_DIR, CodeProfile
from r1v4.tools.code_settings import CodeSettings, describe_tool
from r1v4.tools.sandbox import bwrap, workdir
from r1v4.tools.sandbox.limits import Limits
from r1v4.tools.sandbox.runrequest import RunRequest
from r1v4.tools.sandbox.server import (
    CallFolder,
    Isolation,
    Outcome,
    SandboxServer,
    SandboxUnavailable,
    Session,
    WorkerLost,
)

log = logging.getLogger(__name__)

SESSION_KEY = "code_session"
RESTARTED = (
    "the previous Python session had ended, so this call ran in a new one (it was "
    "restarted); variables from earlier calls are gone."
)


@functools.lru_cache(maxsize=4)
def sandbox_status(use_bwrap: str = "auto") -> str:
    """Which isolation the sandbox will use here; warns once when bubblewrap is not used.

    Checked by really running the interpreter under bubblewrap with the sandbox's mounts
    and trying a loopback connection, so "found but not working" is caught at start-up.
    """
    if use_bwrap != "off":
        ok, problem = bwrap.bwrap_works()
        if ok:
            return "bubblewrap: filesystem and network isolated"
        if use_bwrap == "on":
            return f"unavailable: use_bwrap='on' but {problem}"
    else:
        problem = "disabled by settings"
    root = os.geteuid() == 0
    status = Isolation(
        bwrap=False,
        own_uid=root,
        private_tmp=root,
        network="namespace" if root else "audit-hook",
        bwrap_problem=problem,
    ).describe()
    log.warning("code sandbox without bubblewrap, isolation is weaker: %s", status)
    return status


class CodeTool:
    """Owns the fork server and the sessions; its methods are the ToolSpec callbacks."""

    def __init__(self, settings: CodeSettings) -> None:
        self.settings = settings
        self.server = SandboxServer(
            use_bwrap=settings.use_bwrap,
            work_root=settings.work_dir,
            slots=settings.max_concurrency + settings.max_sessions,
        )
        self._sessions: dict[str, Session] = {}  # open sessions, oldest first
        self._busy: set[str] = set()
        self._counter = itertools.count(1)  # names of folders, unique per tool

    # -- the tool ---------------------------------------------------------------------
    async def execute(self, arguments: dict[str, Any], ctx: ToolContext) -> ToolResult:
        """Run `arguments["code"]` in the sandbox on the trajectory's images."""
        code = arguments.get("code")
        if code is None:
            raise ToolError('the code tool needs an argument "code" holding Python source')
        if not isinstance(code, str):
            raise ToolError(f'argument "code" must be a string, got {type(code).__name__}')
        if not code.strip():
            raise ToolError('argument "code" is empty')
        try:
            await self.server.start()
        except SandboxUnavailable as exc:
            raise ToolError(f"the code sandbox is unavailable: {exc}") from exc
        profile = ctx.code_profile if isinstance(ctx.code_profile, CodeProfile) else CodeProfile()
        if self.settings.session or profile.session:
            return await self._run_session(code, ctx, profile)
        return await self._run_once(code, ctx, profile)

    async def _run_once(self, code: str, ctx: ToolContext, profile: CodeProfile) -> ToolResult:
        """One fresh process in one fresh folder.

        If the worker dies under the call (killed from outside, OOM killer), the call is
        run once more from scratch on the restarted worker: a one-shot call has no state
        and cannot have touched anything outside its folder, so a rerun is safe.
        """
        notes: list[str] = []
        for attempt in range(2):
            outcome, collected, inputs = await self._attempt(code, ctx, profile)
            if not outcome.worker_lost or attempt == 1:
                break
            notes.append(
                "the sandbox restarted during this call; the code was run again from the start."
            )
            log.warning(
                "sandbox worker lost during a call of case %s; running it again", ctx.case_id
            )
        return self._result(outcome, collected, notes, inputs)

    async def _attempt(
        self, code: str, ctx: ToolContext, profile: CodeProfile
    ) -> tuple[Outcome, workdir.Collected, dict[str, Region]]:
        slot = await self.server.slot()
        lost = Outcome(worker_lost=True), workdir.Collected(), {}
        try:
            if not (ctx.input_images or ctx.intermediate_images):
                # nothing to stage: the worker runs the code as soon as the folder is made
                staged = [], [], *regions_.seeds([], [], [], ctx.state)
                run = self._one_shot(code, profile, staged)
                try:
                    folder = await self._new_folder(slot, "call", run)
                except WorkerLost:
                    return lost
                outcome = await self.server.run(run, folder, slot)
                return outcome, await self._accept(outcome), staged[3]
            try:
                folder = await self._new_folder(slot, "call")
            except WorkerLost:
                return lost
            try:  # copying files: off the loop
                staged = await asyncio.to_thread(self._stage, folder, ctx, slot)
            except BaseException as exc:
                if isinstance(exc, ToolError) and folder.generation != self.server.generation:
                    return lost  # the folder went with the worker
                await self.server.release(folder)
                raise
            outcome = await self.server.run(self._one_shot(code, profile, staged), folder, slot)
        finally:
            slot.release()
        return outcome, await self._accept(outcome), staged[3]

    def _one_shot(self, code: str, profile: CodeProfile, staged) -> RunRequest:
        """A one-shot call's run, from what `_stage` returned."""
        return self._run_request(code, profile, staged, first=True, limits=self.settings.limits())

    def _run_request(
        self, code: str, profile: CodeProfile, staged, *, first: bool, limits: Limits | None = None
    ) -> RunRequest:
        """A run of `code` on the staged (inputs, names, seeds, …) (`first`: the
        interpreter's first call; `limits`: a one-shot call's, a session's were set when it
        opened)."""
        inputs, names, seeds = staged[:3]
        s = self.settings
        return RunRequest(
            code=code,
            variables=_variables(inputs, names, profile),
            limits=limits,
            timeout_s=s.timeout_s,
            max_output_bytes=self._head_bytes(),
            tail_bytes=self._tail_bytes(),
            collect=s.collect(),
            conv=None if profile.default else profile.call(inputs, first=first),
            seeds=seeds,
        )

    async def _new_folder(self, slot, kind: str, then_run: RunRequest | None = None) -> CallFolder:
        s = self.settings
        name = f"{kind}-{next(self._counter)}-{slot.uid if slot.uid is not None else 'x'}"
        try:
            return await self.server.prepare(
                slot,
                name,
                disk_mb=s.disk_mb,
                max_files=s.max_files,
                memory_mb=s.memory_mb,
                spare_ok=kind == "call",
                then_run=then_run,
            )
        except SandboxUnavailable as exc:
            raise ToolError(f"the code sandbox is unavailable: {exc}") from exc

    def _stage(self, folder: CallFolder, ctx: ToolContext, slot):
        """Copy the trajectory's images into the call's folder (in a thread); returns the
        input names, all names, the seeds (`r1v4.tools.regions`) and the input regions."""
        uid = self.server.slot_uid(slot)
        taken: set[str] = set()
        try:
            inputs = workdir.stage_images(folder.host_path, list(ctx.input_images), uid, taken)
            extra = workdir.stage_images(
                folder.host_path, list(ctx.intermediate_images), uid, taken
            )
        except FileNotFoundError as exc:
            raise ToolError(str(exc)) from exc
        except OSError as exc:
            raise ToolError(staging_error(exc, self.settings)) from exc
        others = list(zip(ctx.intermediate_images, extra, strict=False))
        seeds, regions = regions_.seeds(list(ctx.input_images), inputs, others, ctx.state)
        return inputs, inputs + extra, seeds, regions

    async def _accept(self, outcome: Outcome) -> workdir.Collected:
        """The images the collector sent, checked as PNG off the event loop; its notes."""
        s = self.settings
        collected = await workdir.accept_images_bounded(
            outcome.images,
            max_pixels=s.max_image_pixels,
            max_bytes=int(s.max_image_mb * 1_000_000),
            timeout_s=s.collect_timeout_s,
        )
        collected.notes[:0] = outcome.collect_notes
        return collected

    def _tail_bytes(self) -> int:
        return min(2000, self.settings.max_output_chars // 5)

    def _head_bytes(self) -> int:
        return self.settings.max_output_chars - self._tail_bytes()

    # -- sessions ---------------------------------------------------------------------
    async def _run_session(self, code: str, ctx: ToolContext, profile: CodeProfile) -> ToolResult:
        notes: list[str] = []
        for attempt in range(2):
            session: Session | None = ctx.state.get(SESSION_KEY)
            if session is not None and (
                not session.alive or session.generation != self.server.generation
            ):
                await self._close(session)
                session = None
                ctx.state.pop(SESSION_KEY, None)
                notes.append(RESTARTED)
            if session is None:
                session = await self._open_session(profile)
                ctx.state[SESSION_KEY] = session
            self._busy.add(session.sid)
            await session.lock.acquire()  # calls of one trajectory never overlap in its session
            try:
                inputs, names, seeds, input_regions = await asyncio.to_thread(
                    self._stage_session, session, ctx, profile.read_only
                )
                first, session.started = not session.started, True
                request = self._run_request(code, profile, (inputs, names, seeds), first=first)
                outcome = await self.server.run_in_session(session, request)
            finally:
                session.lock.release()
                self._busy.discard(session.sid)
            if outcome.session_gone and attempt == 0:
                continue  # died between calls: the code has not run; run it in a new one
            break
        collected = await self._accept(outcome)
        if outcome.session_ended and not outcome.session_gone:
            notes.append(
                "the Python session ended with this call; the next call starts a fresh one."
            )
        if outcome.session_ended:
            ctx.state.pop(SESSION_KEY, None)
            await self._close(session)
        return self._result(outcome, collected, notes, input_regions)

    async def _open_session(self, profile: CodeProfile) -> Session:
        idle = [sid for sid in self._sessions if sid not in self._busy]
        if len(self._sessions) >= self.settings.max_sessions and idle:
            await self._close(self._sessions[idle[0]])
        slot = await self.server.slot()
        try:
            for _ in range(2):
                try:
                    folder = await self._new_folder(slot, "session")
                    break
                except WorkerLost:
                    continue
            else:
                raise ToolError("the code sandbox stopped twice while opening a session")
            conv = None if profile.default else profile.interpreter()
            session = await self.server.open_session(folder, slot, self.settings.limits(), conv)
        except BaseException:
            slot.release(force=True)
            raise
        self._sessions[session.sid] = session
        return session

    def _stage_session(self, session: Session, ctx: ToolContext, read_only: bool = False):
        """Copy in images not staged yet; names of the inputs and of all images so far.
        In a read-only folder they stay the host's (the call's uid cannot change them)."""
        uid = None if read_only else self.server.slot_uid(session.slot)
        all_sources = [str(p) for p in [*ctx.input_images, *ctx.intermediate_images]]
        new = [p for p in all_sources if p not in session.staged]
        try:
            names = workdir.stage_images(
                session.folder.host_path, [Path(p) for p in new], uid, session.names
            )
        except FileNotFoundError as exc:
            raise ToolError(str(exc)) from exc
        except OSError as exc:
            raise ToolError(staging_error(exc, self.settings)) from exc
        for src, name in zip(new, names, strict=True):
            session.staged.add(src)
            session.name_of[src] = name
        inputs = [session.name_of[str(p)] for p in ctx.input_images]
        every = [session.name_of[p] for p in all_sources]
        others = [(Path(p), session.name_of[str(p)]) for p in ctx.intermediate_images]
        seeds, regions = regions_.seeds(list(ctx.input_images), inputs, others, ctx.state)
        return inputs, every, seeds, regions

    async def _close(self, session: Session) -> None:
        self._sessions.pop(session.sid, None)
        await self.server.close_session(session)

    async def end_trajectory(self, ctx: ToolContext) -> None:
        """Close this trajectory's session (if any): its processes and folder go away."""
        session = ctx.state.pop(SESSION_KEY, None)
        if session is not None:
            await self._close(session)

    async def aclose(self) -> None:
        """Close every session and stop the warm worker."""
        for session in list(self._sessions.values()):
            try:
                await self._close(session)
            except Exception:  # closing must go on for the others
                log.exception("closing code session %s failed", session.sid)
        await self.server.aclose()

    # -- the observation --------------------------------------------------------------
    def _result(
        self, outcome: Outcome, collected, notes: list[str], inputs: dict[str, Region]
    ) -> ToolResult:
        """The observation: the output and every note as text (what the record shows);
        in `data`, stdout, stderr and the notes apart, for the families whose observation
        shows them apart; each image's region when the sandbox traced it."""
        text, error = format_outcome(outcome, self.settings)
        notes = [*notes, *collected.notes]
        if notes:
            head = text.rstrip("\n") + "\n" if text.strip() else ""
            text = head + "\n".join(f"[sandbox] {n}" for n in notes)
        found = regions_.accept_looks(
            outcome.looks, inputs, [(i.name, i.size) for i in collected.images]
        )
        images = [
            ToolImage(data=i.data, ext=i.ext, name=_shown_name(i.name), region=found.get(i.name))
            for i in collected.images
        ]
        if not text and not images:
            text = "(no output)"
        ended, _ = outcome_notes(outcome, self.settings)
        data = {"stdout": outcome.output, "stderr": outcome.stderr, "notes": [*ended, *notes]}
        return ToolResult(tool="code", text=text, images=images, error=error, data=data)


def _shown_name(name: str) -> str:
    """A captured figure is named by its file (`figure_1.png`), not the helper folder."""
    return name.rpartition("/")[2] if name.startswith(HELPER_DIR + "/") else name


def _variables(inputs: list[str], names: list[str], profile: CodeProfile) -> dict[str, Any]:
    first = inputs[0] if inputs else (names[0] if names else None)
    return {"image_path": first, "image_paths": list(names), **dict(profile.variables)}


def make_code_tool(settings: CodeSettings | None = None) -> ToolSpec:
    """The `code` ToolSpec; the warm worker starts on the first call and stops at aclose()."""
    tool = CodeTool(settings or CodeSettings())
    return ToolSpec(
        name="code",
        description=describe_tool(tool.settings),
        execute=tool.execute,
        end_trajectory=tool.end_trajectory,
        aclose=tool.aclose,
    )


__all__ = ["CodeSettings", "CodeTool", "format_outcome", "make_code_tool", "sandbox_status"]
