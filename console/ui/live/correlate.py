"""Why did that frame take so long? Latency spikes joined to device changes (no Qt here).

:class:`ChangeDetector` watches telemetry and remembers the moments the
device changed in a way that slows inference: a temperature crossing one of
its zone's trip points (the trips come from ``hello.device["telemetry"]
["thermal_zones"]``), a CPU frequency drop, memory pressure, throttling
reported by the platform. :class:`SpikeDetector` finds frames whose latency
is well beyond the rolling p99 of the frames before them. :class:`SpikeAnnotator`
waits until telemetry has covered a short span after a spike and then
attaches the changes seen around it, which the graphs draw next to the spike.

Only what the device reports is used; a device without sensors gets spikes
marked "no device change seen", never invented causes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from console.core import protocol as P

#: A frequency counts as dropped below this fraction of the previous reading.
FREQ_DROP_RATIO = 0.9
#: Memory pressure: available memory below this fraction of the total.
MEM_PRESSURE_FRACTION = 0.10
#: Throttle flags that mean "slowed down now" (Raspberry Pi firmware, cpufreq caps).
THROTTLE_FLAGS = ("under_voltage", "arm_freq_capped", "throttled", "soft_temp_limit",
                  "freq_capped")
THROTTLE_COUNTERS = ("core_throttle_count", "package_throttle_count")
#: A spike: latency beyond the rolling p99 times this.
SPIKE_FACTOR = 1.5


@dataclass(frozen=True)
class Change:
    """A moment the device changed. ``t`` is in the run's time base (seconds)."""

    t: float
    kind: str  # "trip" | "freq_drop" | "memory" | "throttle"
    text: str


@dataclass(frozen=True)
class Spike:
    t: float
    frame: int
    e2e_ms: float
    p99_ms: float
    causes: tuple[Change, ...] = ()

    def label(self) -> str:
        head = f"{self.e2e_ms:.1f} ms (p99 {self.p99_ms:.1f})"
        if not self.causes:
            return f"{head}: no device change seen"
        return f"{head}: " + "; ".join(c.text for c in self.causes)


def _num(v: Any) -> float | None:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return None
    f = float(v)
    return f if math.isfinite(f) else None


def trips_from_hello(device: Mapping[str, Any]) -> dict[str, list[tuple[str, float]]]:
    """``{zone key in sample["thermal"]: [(trip type, °C), …]}`` from hello's device facts."""
    tel = device.get("telemetry") if isinstance(device, Mapping) else None
    zones = tel.get("thermal_zones") if isinstance(tel, Mapping) else None
    out: dict[str, list[tuple[str, float]]] = {}
    for z in zones or []:
        if not isinstance(z, Mapping) or not isinstance(z.get("name"), str):
            continue
        trips = []
        for tr in z.get("trips") or []:
            c = _num(tr.get("c")) if isinstance(tr, Mapping) else None
            if c is not None:
                trips.append((str(tr.get("type") or "trip"), c))
        if trips:
            out[z["name"]] = sorted(trips, key=lambda x: x[1])
    return out


class ChangeDetector:
    """Turns consecutive telemetry samples into :class:`Change` moments."""

    def __init__(self, trips: Mapping[str, list[tuple[str, float]]] | None = None,
                 keep_s: float = 700.0) -> None:
        self.trips = dict(trips or {})
        self.keep_s = keep_s
        self.changes: list[Change] = []
        self._prev: Mapping[str, Any] | None = None

    def feed(self, t: float, sample: Mapping[str, Any]) -> list[Change]:
        prev, self._prev = self._prev, sample
        if prev is None:
            return []
        found = (self._trip_crossings(t, prev, sample) + self._freq_drop(t, prev, sample)
                 + self._memory(t, prev, sample) + self._throttle(t, prev, sample))
        self.changes.extend(found)
        if self.changes and self.changes[0].t < t - self.keep_s:
            self.changes = [c for c in self.changes if c.t >= t - self.keep_s]
        return found

    def near(self, t: float, before_s: float = 2.0, after_s: float = 0.5) -> list[Change]:
        return [c for c in self.changes if t - before_s <= c.t <= t + after_s]

    def _trip_crossings(self, t: float, prev: Mapping[str, Any], cur: Mapping[str, Any]
                        ) -> list[Change]:
        out = []
        now_th, before_th = cur.get(P.THERMAL) or {}, prev.get(P.THERMAL) or {}
        for zone, trips in self.trips.items():
            a, b = _num(before_th.get(zone)), _num(now_th.get(zone))
            if a is None or b is None:
                continue
            for ttype, c in trips:
                if a < c <= b:
                    out.append(Change(t, "trip", f"{zone} crossed its {ttype} trip point "
                                                 f"{c:.0f} °C ({b:.1f} °C)"))
        return out

    def _freq_drop(self, t: float, prev: Mapping[str, Any], cur: Mapping[str, Any]
                   ) -> list[Change]:
        now_f, before_f = cur.get(P.FREQ) or {}, prev.get(P.FREQ) or {}
        worst: tuple[float, str, float, float] | None = None
        for cpu, v in now_f.items():
            a, b = _num(before_f.get(cpu)), _num(v)
            if a is None or b is None or a <= 0:
                continue
            ratio = b / a
            if ratio < FREQ_DROP_RATIO and (worst is None or ratio < worst[0]):
                worst = (ratio, cpu, a, b)
        if worst is None:
            return []
        _, cpu, a, b = worst
        return [Change(t, "freq_drop", f"{cpu} frequency dropped {a:.0f} → {b:.0f} MHz")]

    def _memory(self, t: float, prev: Mapping[str, Any], cur: Mapping[str, Any]
                ) -> list[Change]:
        def avail_fraction(s: Mapping[str, Any]) -> float | None:
            total = _num(s.get(P.MEM_TOTAL))
            avail = _num(s.get(P.MEM_AVAIL))
            if avail is None:
                used = _num(s.get(P.MEM_USED))
                avail = total - used if total is not None and used is not None else None
            return avail / total if total and avail is not None else None

        a, b = avail_fraction(prev), avail_fraction(cur)
        if a is None or b is None:
            return []
        if b < MEM_PRESSURE_FRACTION <= a:
            return [Change(t, "memory", f"memory pressure: {b * 100:.0f}% of RAM available")]
        return []

    def _throttle(self, t: float, prev: Mapping[str, Any], cur: Mapping[str, Any]
                  ) -> list[Change]:
        now, before = cur.get(P.THROTTLE) or {}, prev.get(P.THROTTLE) or {}
        what = [k.replace("_", " ") for k in THROTTLE_FLAGS if now.get(k) and not before.get(k)]
        for k in THROTTLE_COUNTERS:
            a, b = _num(before.get(k)), _num(now.get(k))
            if a is not None and b is not None and b > a:
                what.append(f"{k.replace('_count', '').replace('_', ' ')} +{b - a:.0f}")
        if not what:
            return []
        return [Change(t, "throttle", "throttling: " + ", ".join(what))]


class SpikeDetector:
    """Frames well beyond the rolling p99 of the frames before them.

    A frame is a spike when its latency exceeds the rolling p99 by
    :data:`SPIKE_FACTOR` (by definition 1 % of frames are beyond p99 itself,
    which is noise, not news). Spikes closer than ``min_gap_s`` are merged
    into the worst of them, unless a later one is worse than the one already
    reported. The percentile is computed once per batch (display rate), not
    per frame; until ``min_frames`` frames have been seen nothing is flagged.
    """

    def __init__(self, size: int = 1000, min_frames: int = 200, min_gap_s: float = 1.0,
                 factor: float | None = None) -> None:
        self._buf = np.zeros(size, dtype=np.float64)
        self._n = 0
        self.min_frames = min_frames
        self.min_gap_s = min_gap_s
        self.factor = SPIKE_FACTOR if factor is None else factor
        self._last: Spike | None = None

    def feed(self, t: np.ndarray, e2e: np.ndarray, frame: np.ndarray) -> list[Spike]:
        found: list[Spike] = []
        if len(t) and self._n >= self.min_frames:
            p99 = float(np.percentile(self._buf[:min(self._n, self._buf.size)], 99))
            over = np.flatnonzero(e2e > p99 * self.factor)
            clusters: list[int] = []
            for j in over.tolist():
                if clusters and t[j] - t[clusters[-1]] < self.min_gap_s:
                    if e2e[j] > e2e[clusters[-1]]:
                        clusters[-1] = j
                    continue
                clusters.append(j)
            for k in clusters:
                last = self._last
                if last is not None and t[k] - last.t < self.min_gap_s \
                        and e2e[k] <= last.e2e_ms:
                    continue
                spike = Spike(float(t[k]), int(frame[k]), float(e2e[k]), p99)
                found.append(spike)
                self._last = spike
        self._add(e2e)
        return found

    def _add(self, values: np.ndarray) -> None:
        size = self._buf.size
        if len(values) >= size:
            self._buf[:] = values[-size:]
            self._n += len(values)
            return
        start = self._n % size
        first = min(len(values), size - start)
        self._buf[start:start + first] = values[:first]
        self._buf[:len(values) - first] = values[first:]
        self._n += len(values)


class SpikeAnnotator:
    """Holds spikes until telemetry covers ``after_s`` past them, then attaches causes."""

    def __init__(self, changes: ChangeDetector, before_s: float = 2.0, after_s: float = 0.5,
                 give_up_s: float = 3.0) -> None:
        self.changes = changes
        self.before_s = before_s
        self.after_s = after_s
        self.give_up_s = give_up_s
        self._pending: list[Spike] = []

    def add(self, spikes: Iterable[Spike]) -> None:
        self._pending.extend(spikes)

    def ready(self, telemetry_t: float | None, frames_t: float | None) -> list[Spike]:
        """Spikes whose surroundings are known: telemetry reached ``t + after_s``, or
        the frames moved ``give_up_s`` past them (a device that sends no telemetry)."""
        done, keep = [], []
        for s in self._pending:
            covered = telemetry_t is not None and telemetry_t >= s.t + self.after_s
            stale = frames_t is not None and frames_t >= s.t + self.give_up_s
            if covered or stale:
                causes = tuple(self.changes.near(s.t, self.before_s, self.after_s))
                done.append(Spike(s.t, s.frame, s.e2e_ms, s.p99_ms, causes))
            else:
                keep.append(s)
        self._pending = keep
        return done

    def flush(self) -> list[Spike]:
        """At the end of a run: annotate whatever is pending with what is known."""
        return self.ready(math.inf, math.inf)
