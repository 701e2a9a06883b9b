"""What a run is asked and what it answers: the request, the result, the listener a
run calls back on its thread, the one refusal type, and how a note's #tags are read.

Split from :mod:`console.session.run` (which re-exports every name) so the CLI, the
window, plans and sweeps can name a run's vocabulary without the machinery.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from console.core import protocol as P
from console.core.errors import UserError
from console.core.op_profile import OpProfile
from console.core.stats import DEFAULT_WARMUP, Warmup
from console.devices.base import AgentOptions, DeployProgress


class RunError(UserError):
    """Refused before anything ran (bad package, input, database, device): one line.

    ``cause`` keeps the device error behind a refusal (e.g. HostKeyUnknown with
    the fingerprint a window shows in its trust dialog)."""

    def __init__(self, message: str, cause: Exception | None = None) -> None:
        super().__init__(message)
        self.cause = cause


TAG_RE = re.compile(r"(?<![\w#])#(\w(?:[\w.-]*\w)?)")


def session_tags(note: str, tags: Sequence[str] = ()) -> list[str]:
    """The given tags plus every ``#word`` in the note, once each, in order: the
    window's note field is where a user tags a run ("fan off #thermal")."""
    out: list[str] = []
    for t in [*tags, *TAG_RE.findall(note)]:
        t = t.strip().lstrip("#")
        if t and t not in out:
            out.append(t)
    return out


def note_with_tags(note: str, tags: Sequence[str], width: int | None = None) -> str:
    """The note (cut to ``width``), then the tags it does not already show as ``#word``."""
    in_note = set(TAG_RE.findall(note))
    extra = " ".join(f"#{t}" for t in tags if t not in in_note)
    return f"{note[:width]} {extra}".strip()


@dataclass(frozen=True)
class RunRequest:
    package: str
    input: str
    options: AgentOptions = field(default_factory=AgentOptions)
    note: str = ""
    tags: tuple[str, ...] = ()
    truth: str | None = None
    budgets: Mapping[str, float] = field(default_factory=dict)
    replay_of: int | None = None
    #: what the steady-state figures leave out at the start (``--warmup``)
    warmup: Warmup = DEFAULT_WARMUP
    #: the plan run or the sweep this run is a cell of (the session's link to it)
    plan_run_id: int | None = None
    sweep_id: int | None = None


@dataclass(frozen=True)
class RunResult:
    session_id: int | None
    status: str
    error: str | None
    summary: dict[str, Any] | None
    budget_verdicts: list[dict[str, Any]] = field(default_factory=list)
    #: set when the end of the session waits in the local spool of an offline server log
    pending: str | None = None
    profile: OpProfile | None = None  # the operator profile (run --profile N)


class RunListener:
    """Callbacks from the run thread. Override what you need; keep them fast."""

    def state(self, state: str, text: str) -> None: ...
    def deploy_progress(self, p: DeployProgress) -> None: ...
    def session_created(self, session_id: int) -> None: ...
    def hello(self, msg: P.Hello) -> None: ...
    def cold(self, msg: P.ColdStart) -> None: ...
    def profile(self, profile: OpProfile) -> None: ...
    def frame(self, msg: P.Frame) -> None: ...
    def preview(self, msg: P.Preview) -> None: ...
    def telemetry(self, msg: P.Telemetry) -> None: ...
    def event(self, level: str, code: str, text: str) -> None: ...
    def finished(self, result: RunResult) -> None: ...
