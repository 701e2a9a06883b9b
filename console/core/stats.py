"""Latency statistics and the run summary.

One function, :func:`summarize`, turns frame latencies and telemetry samples
into the summary that the CLI prints, the window shows and the session row
stores; computing it again from the database rows must give the same
figures (tests check exactly that). :class:`Rolling` gives the live view
its rolling percentiles without keeping the whole history.

Steady state. The first frames after the cold start run slower (allocator
arenas, caches, the CPU governor ramping up), so the latency, FPS and mean
CPU/memory figures are *steady-state* figures: the warm-up
(:class:`Warmup`, default :data:`DEFAULT_WARMUP`: the first 50 frames or
the first 2 s, whichever ends first, never more than a quarter of the
frames) is excluded. The excluded part stays in the log; the summary says
what was excluded (``summary["warmup"]``), and comparisons and budgets use
the same split (:func:`warmup_frames`). Peaks (memory, temperature) and the
accuracy count every frame. Intervals and verdicts are not computed here:
they live in :mod:`console.core.verdicts`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from console.core import protocol as P
from console.core.errors import UserError

STAGES = P.STAGES
PERCENTILES = (50.0, 90.0, 95.0, 99.0, 99.9)


class WarmupError(UserError, ValueError):
    """A ``--warmup`` value that is not a frame count or a duration."""


@dataclass(frozen=True)
class Warmup:
    """What to leave out of the steady-state figures at the start of a run.

    ``frames`` and ``seconds`` both set: the warm-up ends at whichever comes
    first. ``auto`` (the default rule) also caps it at a quarter of the frames, so a
    short run keeps most of its frames; an explicit setting is taken as given.
    """

    frames: int | None = 50
    seconds: float | None = 2.0
    auto: bool = True

    @property
    def setting(self) -> str:
        if self.auto:
            return "auto"
        if self.frames is not None:
            return str(self.frames)
        return f"{self.seconds:g}s" if self.seconds else "0"

    def describe(self) -> str:
        if self.auto:
            return (f"the first {self.frames} frames or {self.seconds:g} s, whichever ends "
                    "first (at most a quarter of the frames)")
        if self.frames:
            return f"the first {self.frames} frames"
        if self.seconds:
            return f"the first {self.seconds:g} s"
        return "nothing (--warmup 0)"


DEFAULT_WARMUP = Warmup()
NO_WARMUP = Warmup(frames=0, seconds=None, auto=False)


def parse_warmup(text: str) -> Warmup:
    """``auto``, ``0``, ``50`` (frames), ``2s`` / ``500ms`` (time) -> :class:`Warmup`."""
    t = text.strip().lower()
    if t == "auto":
        return DEFAULT_WARMUP
    m = re.fullmatch(r"([0-9]+(?:\.[0-9]*)?)\s*(ms|s|frames?)?", t)
    if not m:
        raise WarmupError(f"bad --warmup {text!r}: use a frame count (50), a duration (2s, "
                          "500ms), 0 for none, or auto")
    v, unit = float(m.group(1)), m.group(2)
    if unit in ("s", "ms"):
        return Warmup(frames=None, seconds=v / 1000.0 if unit == "ms" else v, auto=False)
    if v != int(v):
        raise WarmupError(f"bad --warmup {text!r}: a frame count is a whole number")
    return Warmup(frames=int(v), seconds=None, auto=False)


def warmup_frames(ts: Sequence[float] | np.ndarray, rule: Warmup = DEFAULT_WARMUP) -> int:
    """How many leading frames (in frame order, capture times ``ts``) are warm-up."""
    t = np.asarray(ts, dtype=np.float64)
    n = int(t.size)
    if n == 0:
        return 0
    ends = []
    if rule.frames is not None:
        ends.append(min(n, rule.frames))
    if rule.seconds is not None:
        ends.append(int(np.searchsorted(t, t[0] + rule.seconds, side="left")))
    k = min(ends) if ends else 0
    return min(k, n // 4) if rule.auto else k


def warmup_record(ts: Sequence[float] | np.ndarray, rule: Warmup = DEFAULT_WARMUP
                  ) -> dict[str, Any]:
    """What the summary says about the warm-up: how many frames, how long, by which rule."""
    t = np.asarray(ts, dtype=np.float64)
    k = warmup_frames(t, rule)
    return {"frames": k,
            "seconds": float(t[k] - t[0]) if 0 < k < t.size else (
                float(t[-1] - t[0]) if k and t.size else 0.0),
            "setting": rule.setting, "rule": rule.describe()}


def _pkey(p: float) -> str:
    return f"p{p:g}"


def latency_stats(values: Sequence[float] | np.ndarray) -> dict[str, float] | None:
    """p50/p90/p95/p99/p99.9, mean, min, max, std in the values' unit; None when empty."""
    a = np.asarray(values, dtype=np.float64)
    if a.size == 0:
        return None
    qs = np.percentile(a, PERCENTILES)
    out = {_pkey(p): float(q) for p, q in zip(PERCENTILES, qs)}
    out.update(mean=float(a.mean()), min=float(a.min()), max=float(a.max()),
               std=float(a.std()))
    return out


def _clean(v: Any) -> float | None:
    """A finite number, or None (absent, NaN, not a number)."""
    if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
        return float(v)
    return None


def _series(samples: Iterable[Mapping[str, Any]], key: str) -> list[float]:
    out = []
    for s in samples:
        v = s.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            out.append(float(v))
    return out


def steady_samples(samples: Sequence[Mapping[str, Any]], steady_from: float | None
                   ) -> list[Mapping[str, Any]]:
    """The telemetry samples taken from the first steady-state frame on (all of them when
    the run has no frame, or the samples carry no ``ts``)."""
    if steady_from is None:
        return list(samples)
    return [s for s in samples
            if not isinstance(s.get("ts"), (int, float)) or float(s["ts"]) >= steady_from]


def summarize(
    frames: Mapping[str, Sequence[float] | np.ndarray],
    samples: Sequence[Mapping[str, Any]],
    *,
    cold: Mapping[str, Any] | None = None,
    top1: Sequence[int | None] | None = None,
    truth: Mapping[int, int] | None = None,
    frame_index: Sequence[int] | None = None,
    agent_sent: int | None = None,
    warmup: Warmup = DEFAULT_WARMUP,
) -> dict[str, Any]:
    """The run summary. ``frames`` holds arrays ``ts``, ``pre``, ``infer``, ``post``, ``e2e``
    and optionally ``read_ms`` (NaN where not measured), in frame order.

    Latency, FPS and the CPU means are steady-state figures (``warmup`` excluded,
    see the module docstring); ``frames`` and ``duration_s`` count the whole run.
    Figures the device did not provide (temperature, power) are ``None``:
    "unavailable", never zero.
    """
    ts = np.asarray(frames.get("ts", []), dtype=np.float64)
    n = int(ts.size)
    span = float(ts.max() - ts.min()) if n >= 2 else 0.0
    k = warmup_frames(ts, warmup)
    steady_ts = ts[k:]
    ns = int(steady_ts.size)
    steady_span = float(steady_ts[-1] - steady_ts[0]) if ns >= 2 else 0.0
    summary: dict[str, Any] = {
        "frames": n,
        "duration_s": span,
        "warmup": warmup_record(ts, warmup),
        "steady_frames": ns,
        "fps": (ns - 1) / steady_span if ns >= 2 and steady_span > 0 else None,
        "latency_ms": {s: latency_stats(np.asarray(frames.get(s, []))[k:]) for s in STAGES},
    }
    # Reading the frame (decode, capture) is outside e2e; older agents did not send it.
    if P.READ in frames:
        read = np.asarray(frames[P.READ], dtype=np.float64)[k:]
        summary[P.READ] = latency_stats(read[~np.isnan(read)])
    if cold:
        summary["cold_start_ms"] = {
            "package": _clean(cold.get("package_ms")), "session": _clean(cold.get("session_ms")),
            "first_infer": _clean(cold.get("first_infer_ms")),
            "total": _clean(cold.get("total_ms")),
        }
    else:
        summary["cold_start_ms"] = None

    steady = steady_samples(samples, float(steady_ts[0]) if ns else None)
    cpu_sys, cpu_agent = _series(samples, P.CPU_SYS), _series(samples, P.CPU_AGENT)
    sys_steady, agent_steady = _series(steady, P.CPU_SYS), _series(steady, P.CPU_AGENT)
    summary["cpu"] = {
        "sys_mean": float(np.mean(sys_steady)) if sys_steady else None,
        "sys_peak": max(cpu_sys) if cpu_sys else None,
        "agent_mean": float(np.mean(agent_steady)) if agent_steady else None,
        "agent_peak": max(cpu_agent) if cpu_agent else None,
    }
    rss, used = _series(samples, P.RSS), _series(samples, P.MEM_USED)
    rss_steady = _series(steady, P.RSS)
    summary["memory"] = {"rss_peak_mb": max(rss) if rss else None,
                         "rss_mean_mb": float(np.mean(rss_steady)) if rss_steady else None,
                         "mem_used_peak_mb": max(used) if used else None}

    zones: dict[str, float] = {}
    for s in samples:
        for name, c in (s.get("thermal") or {}).items():
            c = _clean(c)
            if c is not None:
                zones[name] = max(c, zones.get(name, -math.inf))
    summary["thermal"] = {"max_c": max(zones.values()), "zones": zones} if zones else None

    energy_first: dict[str, float] = {}
    energy_last: dict[str, float] = {}
    power: dict[str, list[float]] = {}
    for s in samples:
        for src, j in (s.get("energy_j") or {}).items():
            j = _clean(j)
            if j is not None:
                energy_first.setdefault(src, j)
                energy_last[src] = j
        for src, w in (s.get("power_w") or {}).items():
            w = _clean(w)
            if w is not None:
                power.setdefault(src, []).append(w)
    if energy_last or power:
        energy = {src: energy_last[src] - energy_first[src] for src in energy_last}
        primary = max(energy, key=lambda k: energy[k]) if energy else None
        per_inf = (energy[primary] / n * 1000.0) if primary and n else None
        summary["power"] = {
            "mean_w": {src: float(np.mean(v)) for src, v in power.items()},
            "energy_j": energy,
            "primary": primary,
            "energy_per_inference_mj": per_inf,
        }
    else:
        summary["power"] = None

    sampler = _series(samples, "sampler_cpu")
    summary["telemetry"] = {"samples": len(samples),
                            "sampler_cpu_mean": float(np.mean(sampler)) if sampler else None}

    if truth is not None and top1 is not None and frame_index is not None:
        scored = correct = 0
        for i, pred in zip(frame_index, top1):
            want = truth.get(int(i))
            if want is None or pred is None:
                continue
            scored += 1
            correct += int(int(pred) == want)
        summary["accuracy"] = {"top1": correct / scored if scored else None,
                               "frames_scored": scored}
    if agent_sent is not None:
        summary["agent_sent"] = agent_sent
        summary["missing_frames"] = max(0, agent_sent - n)
    return summary


# -- the steady state of one session, for intervals (console.core.verdicts) ------------
@dataclass(frozen=True)
class SessionData:
    """One session's steady-state series (warm-up removed) and its single measurements."""

    ts: np.ndarray
    stages: dict[str, np.ndarray]  # pre, infer, post, e2e and read_ms when recorded
    tel_ts: np.ndarray
    telemetry: dict[str, np.ndarray]  # cpu_agent, cpu_sys, rss_mb, temp_c, power_w
    cold_ms: float | None = None
    rss_peak_mb: float | None = None
    temp_max_c: float | None = None
    energy_mj: float | None = None
    accuracy: tuple[int, int] | None = None  # (correct, scored)
    warmup_frames: int = 0
    warmup_s: float = 0.0


def summary_value(d: Any, *path: str) -> float | None:
    """The number at ``path`` in a summary (None when absent or not a number)."""
    for p in path:
        if not isinstance(d, Mapping):
            return None
        d = d.get(p)
    return _clean(d)


def _tel_value(s: Mapping[str, Any], key: str) -> float | None:
    if key in (P.THERMAL, P.POWER):
        vals = [v for v in ((s.get(key) or {}).values()) if _clean(v) is not None]
        return max(vals) if vals else None
    return _clean(s.get(key))


#: telemetry series compared as steady-state means: (key, figure name, unit, kind)
TELEMETRY_MEANS = ((P.CPU_AGENT, "agent cpu mean", "%", "cpu"),
                   (P.CPU_SYS, "system cpu mean", "%", "cpu"),
                   (P.RSS, "agent memory mean", "MiB", "memory"),
                   (P.THERMAL, "mean temperature", "°C", "temperature"),
                   (P.POWER, "mean power", "W", "power"))


def steady_data(frames: Mapping[str, Any], samples: Sequence[Mapping[str, Any]],
                summary: Mapping[str, Any] | None = None, cold_ms: float | None = None
                ) -> SessionData:
    """The steady state of one session from its frame columns (frame order) and telemetry
    samples (with ``ts``). The warm-up is the one the summary recorded (older sessions:
    the default rule)."""
    summary = summary or {}
    ts_all = np.asarray(frames.get("ts", []), dtype=np.float64)
    wu = summary.get("warmup") or {}
    k = int(wu["frames"]) if isinstance(wu.get("frames"), int) else \
        warmup_frames(ts_all, DEFAULT_WARMUP)
    stages = {s: np.asarray(frames[s], dtype=np.float64)[k:] for s in STAGES if s in frames}
    if P.READ in frames:
        read = np.asarray(frames[P.READ], dtype=np.float64)[k:]
        if np.isfinite(read).any():
            stages[P.READ] = read
    ts = ts_all[k:]
    steady = steady_samples(samples, float(ts[0]) if ts.size else None)
    tel_ts = np.array([float(s.get("ts", math.nan)) for s in steady], dtype=np.float64)
    tel = {key: np.array([_tel_value(s, key) if _tel_value(s, key) is not None else math.nan
                          for s in steady], dtype=np.float64)
           for key, _n, _u, _k in TELEMETRY_MEANS}
    acc = summary.get("accuracy") or {}
    scored = acc.get("frames_scored")
    accuracy = None
    if isinstance(scored, int) and scored > 0 and _clean(acc.get("top1")) is not None:
        accuracy = (round(float(acc["top1"]) * scored), scored)
    cold = cold_ms if cold_ms is not None else summary_value(summary, "cold_start_ms", "total")
    return SessionData(ts, stages, tel_ts, tel, cold,
                       summary_value(summary, "memory", "rss_peak_mb"),
                       summary_value(summary, "thermal", "max_c"),
                       summary_value(summary, "power", "energy_per_inference_mj"), accuracy, k,
                       float(ts_all[k] - ts_all[0]) if 0 < k < ts_all.size else 0.0)



class Rolling:
    """Fixed-size ring of recent values; percentiles on demand (at display rate)."""

    def __init__(self, size: int = 512) -> None:
        self._buf = np.zeros(size, dtype=np.float64)
        self._n = 0

    def add(self, v: float) -> None:
        self._buf[self._n % self._buf.size] = v
        self._n += 1

    def __len__(self) -> int:
        return min(self._n, self._buf.size)

    def values(self) -> np.ndarray:
        return self._buf[: len(self)]

    def percentiles(self, ps: Sequence[float] = (50, 95, 99)) -> list[float] | None:
        if not len(self):
            return None
        return [float(v) for v in np.percentile(self.values(), ps)]


def load_truth(path: str) -> dict[int, int]:
    """A ground-truth CSV ``frame,label`` (header optional) -> {frame: class}."""
    out: dict[int, int] = {}
    with open(path, encoding="utf-8") as fh:
        for ln, line in enumerate(fh, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            parts = [p.strip() for p in line.split(",")]
            if ln == 1 and not parts[0].isdigit():
                continue  # header
            try:
                out[int(parts[0])] = int(parts[1])
            except (IndexError, ValueError):
                raise ValueError(f"{path}:{ln}: expected 'frame,label', got {line!r}") from None
    return out
