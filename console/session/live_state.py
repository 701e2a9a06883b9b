"""What the window knows about the run it is showing, without Qt.

One :class:`LiveRun` per started run (a new one for every start, so no
field of the previous run can leak into the next): which session it
records, what arrived so far (frames, the newest frame, previews, agent
warnings and errors), the cold start, and when it started and ended. The
window's run supervisor fills it from the worker's signals and the display
timer; the status bar and the live summary read it.

What must not live here: drawing, Qt, or anything that waits on IO. The
figures of a *finished* session come from its summary
(``console.session.run.RunResult``), not from here.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from console.core import protocol as P
from console.session.run import RunResult


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'s' * (n != 1)}"


def _thousands(n: int) -> str:
    return f"{n:,}".replace(",", " ")


def cold_start_line(msg: P.ColdStart) -> str:
    """The log line for a cold start: every figure with its unit and what it measured."""
    return (f"cold start {msg.total_ms:.0f} ms on {msg.provider}: package check "
            f"{msg.package_ms:.0f} ms + onnxruntime session {msg.session_ms:.0f} ms + first "
            f"inference {msg.first_infer_ms:.1f} ms")


@dataclass
class LiveRun:
    """The state of one run as the window sees it (all times ``time.monotonic``)."""

    #: what the run is, for the summary's title (the package's title)
    title: str
    #: the device's name in the Devices dock
    device: str
    #: the session this run replays (None: a new run)
    replay_of: int | None = None
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None
    session_id: int | None = None
    #: the agent's pid on its device (from hello)
    agent_pid: int | None = None
    result: RunResult | None = None
    #: frames that reached the window
    frames_total: int = 0
    #: the highest frame index seen (frames the agent numbered but the window never got
    #: are dropped)
    max_index: int = -1
    previews: int = 0
    cold_ms: float | None = None
    warnings: int = 0
    errors: int = 0
    #: (frame index, device ts) of the newest frame (where a bookmark lands)
    newest_frame: tuple[int, float] | None = None

    # -- what arrives ------------------------------------------------------------
    def note_frames(self, index: np.ndarray, ts: np.ndarray, total: int) -> None:
        """A drained batch: its frame indices and device times, and the feed's total."""
        if len(index):
            k = int(np.argmax(index))
            newest = int(index[k])
            self.max_index = max(self.max_index, newest)
            if self.newest_frame is None or newest > self.newest_frame[0]:
                self.newest_frame = (newest, float(ts[k]))
        self.frames_total = total

    def note_event(self, level: str) -> None:
        self.warnings += level == "warning"
        self.errors += level == "error"

    def finish(self, result: RunResult) -> None:
        self.result = result
        self.ended = time.monotonic()

    def end(self) -> None:
        """The run's thread ended (refused or killed runs have no result: the clock
        stops all the same)."""
        if self.ended is None:
            self.ended = time.monotonic()

    # -- what is shown -------------------------------------------------------------
    @property
    def dropped(self) -> int:
        return max(0, self.max_index + 1 - self.frames_total)

    def elapsed_s(self) -> float:
        return (self.ended or time.monotonic()) - self.started

    def elapsed_text(self) -> str:
        el = self.elapsed_s()
        return f"elapsed {int(el // 60):d}:{el % 60:04.1f}"

    def frames_text(self) -> str:
        return f"frames {_thousands(self.frames_total)} · dropped {self.dropped}"

    def live_figures(self, fps: float | None,
                     percentiles: tuple[float, float, float] | None, spikes: int,
                     telemetry_samples: int) -> dict[str, Any]:
        """The summary panel's figures while the run goes (label -> value)."""
        fig: dict[str, Any] = {}
        if self.session_id is not None:
            fig["session"] = self.session_id
        fig["frames received"] = _thousands(self.frames_total)
        if self.dropped:
            fig["dropped"] = self.dropped
        fig["fps (last second)"] = f"{fps:.1f}" if fps is not None else "-"
        if percentiles is not None:
            p50, p95, p99 = percentiles
            fig["end-to-end (rolling)"] = f"p50 {p50:.3f} · p95 {p95:.3f} · p99 {p99:.3f} ms"
        if self.cold_ms is not None:
            fig["cold start"] = f"{self.cold_ms:.1f} ms"
        fig["latency spikes"] = spikes
        fig["telemetry samples"] = telemetry_samples
        if self.warnings or self.errors:
            fig["agent events"] = (f"{_count(self.warnings, 'warning')}, "
                                   f"{_count(self.errors, 'error')}")
        return fig
