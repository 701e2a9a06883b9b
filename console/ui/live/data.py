"""The live data path between a run thread and the display timer (no Qt here).

Sampling rate is not repaint rate: the run thread calls :class:`LiveFeed`
for every frame, telemetry sample and preview (a lock and an append, no IO,
no Qt), and the window's display timer calls :meth:`LiveFeed.drain` about
30 times a second and appends the batch to :class:`FrameHistory` and
:class:`TelemetryHistory`, which keep enough history for the widest
scrolling window. Curves are drawn from the visible slice thinned by
``console.core.series.minmax_decimate`` (the console's one decimator, which
keeps one-frame spikes), so a 1 000-frame/s device costs the same repaint
as a 30-frame/s one. Every frame is still recorded: recording is the run's
writer thread's job (``console.session.recorder``), not this module's.

Telemetry series are named as ``console.core.protocol.flatten_sample``
names them (``cpu_sys``, ``thermal.<zone>``, ``freq_mhz.<cpu>``). A figure the
device does not report is absent from its series, never a 0:
:meth:`TelemetryHistory.has` says whether a series ever had a value.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from console.core import protocol as P

#: Frame columns kept by :class:`FrameHistory` (and in a :class:`Batch`): the
#: protocol's wire names of the frame's time, its stages and its index.
FRAME_COLUMNS = ("ts", *P.STAGES, "i")
assert set(FRAME_COLUMNS) <= {f.wire for f in P.FRAME_FIELDS}
#: the span of the other stages (drawn thicker, and the stage a comparison starts with)
E2E = P.STAGES[-1]
#: The longest scrolling window the graphs offer, seconds.
MAX_WINDOW_S = 600.0
#: Frames kept for the graphs; at 1 000 frames/s that is ~5 minutes (~19 MB).
FRAME_CAPACITY = 400_000
#: frames behind the rolling p50/p95/p99 lines
ROLLING_FRAMES = 512


def stage_label(stage: str) -> str:
    """How a stage is named on screen (``e2e`` reads "end-to-end")."""
    return "end-to-end" if stage == E2E else stage


@dataclass(frozen=True)
class PreviewImage:
    """The newest preview, decoded off the GUI thread, with its frame's output."""

    i: int
    ts: float
    w: int
    h: int
    image: Any  # a QImage (decoded by the Qt adapter); opaque here
    out: Mapping[str, Any] | None


@dataclass
class Batch:
    """What arrived since the previous :meth:`LiveFeed.drain`."""

    frames: np.ndarray  # shape (n, len(FRAME_COLUMNS)), time-ordered as received
    telemetry: list[tuple[float, dict[str, Any]]] = field(default_factory=list)
    preview: PreviewImage | None = None
    #: output of the newest frame (for the live view when there are no previews)
    last_out: tuple[int, Mapping[str, Any]] | None = None
    frames_total: int = 0


class LiveFeed:
    """Thread-safe hand-off: the run thread appends, the display timer drains."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._frames: list[tuple[float, float, float, float, float, int]] = []
        self._telemetry: list[tuple[float, dict[str, Any]]] = []
        self._preview: PreviewImage | None = None
        self._last_out: tuple[int, Mapping[str, Any]] | None = None
        self._total = 0
        #: the size (w, h) the live view paints previews at, set by the display timer: the
        #: run thread scales each preview to it, so the GUI thread only copies pixels
        self.preview_target: tuple[int, int] | None = None

    # -- producer (run thread) -------------------------------------------------
    def add_frame(self, msg: P.Frame) -> None:
        row = (msg.ts, msg.pre, msg.infer, msg.post, msg.e2e, msg.i)
        with self._lock:
            self._frames.append(row)
            self._last_out = (msg.i, msg.out)
            self._total += 1

    def add_telemetry(self, ts: float, sample: dict[str, Any]) -> None:
        with self._lock:
            self._telemetry.append((ts, sample))

    def set_preview(self, i: int, ts: float, w: int, h: int, image: Any) -> None:
        """Keep only the newest preview. The agent sends a preview right after its
        frame, so the newest output belongs to it when the indices match."""
        with self._lock:
            out = self._last_out[1] if self._last_out and self._last_out[0] == i else None
            self._preview = PreviewImage(i, ts, w, h, image, out)

    # -- consumer (display timer) ---------------------------------------------
    def drain(self) -> Batch:
        with self._lock:
            frames, self._frames = self._frames, []
            tele, self._telemetry = self._telemetry, []
            preview, self._preview = self._preview, None
            last_out, total = self._last_out, self._total
        arr = (np.asarray(frames, dtype=np.float64) if frames
               else np.empty((0, len(FRAME_COLUMNS)), dtype=np.float64))
        return Batch(arr, tele, preview, last_out, total)


class FrameHistory:
    """Per-frame latencies in contiguous, time-ordered arrays.

    Appending is amortised O(1): when the capacity is reached the oldest half
    is dropped in one copy, so slices stay contiguous for ``searchsorted``.
    """

    def __init__(self, capacity: int = FRAME_CAPACITY) -> None:
        self.capacity = max(16, capacity)
        self._a = np.empty((self.capacity, len(FRAME_COLUMNS)), dtype=np.float64)
        self._n = 0
        self.dropped_old = 0

    def __len__(self) -> int:
        return self._n

    def clear(self) -> None:
        self._n = 0
        self.dropped_old = 0

    def extend(self, rows: np.ndarray, t0: float) -> None:
        """Append rows (columns :data:`FRAME_COLUMNS`), times shifted by ``-t0``."""
        if not len(rows):
            return
        rows = rows.copy()
        rows[:, 0] -= t0
        if len(rows) >= self.capacity:
            rows = rows[-(self.capacity // 2):]
        if self._n + len(rows) > self.capacity:
            keep = self.capacity // 2 - len(rows) if len(rows) < self.capacity // 2 else 0
            drop = self._n - keep
            self._a[:keep] = self._a[drop:self._n]
            self._n = keep
            self.dropped_old += drop
        self._a[self._n:self._n + len(rows)] = rows
        self._n += len(rows)

    def column(self, name: str) -> np.ndarray:
        return self._a[:self._n, FRAME_COLUMNS.index(name)]

    def window(self, t_from: float, t_to: float | None = None) -> slice:
        t = self.column("ts")
        lo = int(np.searchsorted(t, t_from, side="left"))
        hi = self._n if t_to is None else int(np.searchsorted(t, t_to, side="right"))
        return slice(lo, hi)

    def last_t(self) -> float | None:
        return float(self._a[self._n - 1, 0]) if self._n else None

    def fps_last_second(self) -> float | None:
        """Frames per second over the newest second of frames (None: too few to say)."""
        last = self.last_t()
        if last is None:
            return None
        sl = self.window(last - 1.0)
        n = sl.stop - sl.start
        if n < 2:
            return None
        ts = self.column("ts")[sl]
        span = float(ts[-1] - ts[0])
        return (n - 1) / span if span > 0 else None

    def nearest(self, t: float) -> dict[str, float] | None:
        """The frame closest to time ``t`` (for the pause/inspect readout)."""
        if not self._n:
            return None
        ts = self.column("ts")
        k = int(np.searchsorted(ts, t))
        k = min(max(k, 0), self._n - 1)
        if k > 0 and abs(ts[k - 1] - t) < abs(ts[k] - t):
            k -= 1
        return dict(zip(FRAME_COLUMNS, (float(v) for v in self._a[k])))


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and math.isfinite(v)


class TelemetryHistory:
    """Telemetry as named series (``P.flatten_sample``), trimmed to the widest window."""

    def __init__(self, keep_s: float = MAX_WINDOW_S + 30.0) -> None:
        self.keep_s = keep_s
        self._t: dict[str, list[float]] = {}
        self._v: dict[str, list[float]] = {}
        self.samples = 0
        self.last_t: float | None = None
        self._arrays: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def clear(self) -> None:
        self.__init__(self.keep_s)  # type: ignore[misc]

    def extend(self, items: Iterable[tuple[float, Mapping[str, Any]]], t0: float) -> None:
        changed = False
        for ts, sample in items:
            t = ts - t0
            self.samples += 1
            self.last_t = t
            for name, v in P.flatten_sample(dict(sample)).items():
                if not _finite(v):  # NaN is "no reading": absent, not a point
                    continue
                self._t.setdefault(name, []).append(t)
                self._v.setdefault(name, []).append(float(v))
                changed = True
        if changed:
            self._arrays.clear()
            if self.last_t is not None:
                self._trim(self.last_t - self.keep_s)

    def _trim(self, t_min: float) -> None:
        for name, ts in self._t.items():
            if ts and ts[0] < t_min:
                k = int(np.searchsorted(np.asarray(ts), t_min))
                del ts[:k]
                del self._v[name][:k]

    def names(self, prefix: str = "") -> list[str]:
        return sorted(n for n in self._t if n.startswith(prefix))

    def has(self, name_or_prefix: str) -> bool:
        """True once any sample held this series (or any series of the map ``prefix``)."""
        if name_or_prefix in self._t:
            return True
        return any(n.startswith(name_or_prefix + ".") for n in self._t)

    def series(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        arr = self._arrays.get(name)
        if arr is None:
            arr = (np.asarray(self._t.get(name, []), dtype=np.float64),
                   np.asarray(self._v.get(name, []), dtype=np.float64))
            self._arrays[name] = arr
        return arr

    def value_at(self, name: str, t: float) -> float | None:
        """The series' value at time ``t`` (the first sample at or after it, else the last)."""
        x, y = self.series(name)
        if not len(x):
            return None
        return float(y[min(int(np.searchsorted(x, t)), len(x) - 1)])

    def latest(self, name: str) -> float | None:
        v = self._v.get(name)
        return v[-1] if v else None


class RollingPercentiles:
    """Rolling p50/p95/p99 of end-to-end latency over the last ``frames`` frames, and
    their history (one point per batch) for the dashed lines on the latency plot.

    Numpy throughout: a batch is written into the ring in one slice (not a Python
    loop per frame), and the history lives in arrays, so :meth:`since` is a
    ``searchsorted`` and a view, not a list-to-array copy of the whole history on
    every display tick."""

    #: history points kept; the oldest half goes when full
    KEEP = 40_000

    def __init__(self, frames: int = ROLLING_FRAMES) -> None:
        self.size = frames
        self._ring = np.zeros(frames, dtype=np.float64)
        self._seen = 0
        self._t = np.empty(1024, dtype=np.float64)
        self._v = np.empty((1024, 3), dtype=np.float64)
        self._n = 0

    def __len__(self) -> int:
        """Frames behind the newest figures."""
        return min(self._seen, self.size)

    def add(self, t_last: float, e2e: np.ndarray) -> None:
        """A batch's end-to-end latencies (ms); ``t_last`` the time of its last frame."""
        if not len(e2e):
            return
        vals = np.asarray(e2e[-self.size:], dtype=np.float64)
        start = self._seen % self.size
        first = min(len(vals), self.size - start)
        self._ring[start:start + first] = vals[:first]
        self._ring[:len(vals) - first] = vals[first:]
        self._seen += len(vals)
        window = self._ring[:len(self)]
        window = window[np.isfinite(window)]
        if not window.size:
            return
        if self._n == len(self._t):
            if self._n >= self.KEEP:
                half = self._n // 2
                self._t[:self._n - half] = self._t[half:self._n]
                self._v[:self._n - half] = self._v[half:self._n]
                self._n -= half
            else:
                self._t = np.concatenate([self._t, np.empty_like(self._t)])
                self._v = np.concatenate([self._v, np.empty_like(self._v)])
        self._t[self._n] = t_last
        self._v[self._n] = np.percentile(window, (50, 95, 99))
        self._n += 1

    def latest(self) -> tuple[float, float, float] | None:
        if not self._n:
            return None
        p50, p95, p99 = (float(v) for v in self._v[self._n - 1])
        return p50, p95, p99

    def since(self, t_from: float, max_points: int) -> tuple[np.ndarray, np.ndarray]:
        """Times and (p50, p95, p99) rows from ``t_from`` on, every n-th to fit."""
        if not self._n:
            return np.empty(0), np.empty((0, 3))
        k = int(np.searchsorted(self._t[:self._n], t_from))
        px, pv = self._t[k:self._n], self._v[k:self._n]
        if len(px) > max_points:
            # every n-th counted from the newest, so the newest point is always drawn
            step = math.ceil(len(px) / max_points)
            px, pv = px[::-1][::step][::-1], pv[::-1][::step][::-1]
        return px.copy(), pv.copy()


def fps_series(ts: np.ndarray, bin_s: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Frames per second in ``bin_s`` bins aligned to multiples of ``bin_s``.

    The first bin (the slice starts inside it) and the last one (still
    filling) are partial and left out, so the curve neither dips at the
    window's edge nor jitters as the window scrolls.
    """
    if len(ts) < 2:
        return np.empty(0), np.empty(0)
    start = (math.floor(ts[0] / bin_s) + 1) * bin_s
    end = math.floor(ts[-1] / bin_s) * bin_s
    nbins = round((end - start) / bin_s)
    if nbins < 1:
        return np.empty(0), np.empty(0)
    edges = start + bin_s * np.arange(nbins + 1)
    counts = np.diff(np.searchsorted(ts, edges, side="left"))  # ts is sorted: no histogram
    return edges[1:], counts / bin_s
