"""Per-device latency samples between the plan's device threads and the display timer.

Sampling rate is not repaint rate: every frame of every cell is one locked
append here (no Qt, no IO); the Plan tab's ~30 Hz timer drains what arrived
and keeps a bounded history per device for its small curve. Times are the
console's own clock (seconds since the plan started), so the curve of a
device runs on across its cells even though each agent starts its own clock.
"""

from __future__ import annotations

import threading
import time
from collections import deque

import numpy as np

from console.core.series import minmax_decimate

#: samples waiting per device between two drains (older ones are dropped: the curve
#: is a view, every frame is recorded by the run itself)
PENDING_CAP = 50_000
#: seconds of history a device's curve shows
CURVE_SPAN_S = 120.0
#: points per curve handed to pyqtgraph
CURVE_POINTS = 300


class LatencyFeed:
    """Thread-safe: ``add`` from any thread, ``drain`` from the display timer."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._t0 = time.monotonic()
        self._pending: dict[str, deque[tuple[float, float]]] = {}

    def restart(self) -> None:
        with self._lock:
            self._t0 = time.monotonic()
            self._pending.clear()

    def add(self, device: str, e2e_ms: float) -> None:
        t = time.monotonic() - self._t0
        with self._lock:
            q = self._pending.get(device)
            if q is None:
                q = self._pending[device] = deque(maxlen=PENDING_CAP)
            q.append((t, e2e_ms))

    def drain(self) -> dict[str, np.ndarray]:
        """What arrived since the last call: per device an (n, 2) array of (t, e2e)."""
        with self._lock:
            out = {d: np.asarray(q, dtype=np.float64).reshape(-1, 2)
                   for d, q in self._pending.items() if q}
            for q in self._pending.values():
                q.clear()
        return out


class CurveHistory:
    """One device's recent (t, e2e), bounded by time; the decimated points to draw."""

    def __init__(self, span_s: float = CURVE_SPAN_S) -> None:
        self.span_s = span_s
        self.t = np.empty(0)
        self.v = np.empty(0)

    def extend(self, rows: np.ndarray) -> None:
        if not rows.size:
            return
        self.t = np.concatenate([self.t, rows[:, 0]])
        self.v = np.concatenate([self.v, rows[:, 1]])
        keep = self.t >= self.t[-1] - self.span_s
        if not keep.all():
            self.t, self.v = self.t[keep], self.v[keep]

    def __len__(self) -> int:
        return int(self.t.size)

    def points(self, max_points: int = CURVE_POINTS) -> tuple[np.ndarray, np.ndarray]:
        return minmax_decimate(self.t, self.v, max_points)
