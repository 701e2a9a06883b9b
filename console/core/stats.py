"""Latency statistics and the run summary.

One function, :func:`summarize`, turns frame latencies and telemetry samples
into the summary that the CLI prints, the window shows and the session row
stores; computing it again from the database rows must give the same
figures (tests check exactly that). :class:`Rolling` gives the live view
its rolling percentiles without keeping the whole history.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

STAGES = ("pre", "infer", "post", "e2e")
PERCENTILES = (50.0, 90.0, 95.0, 99.0, 99.9)


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
    if v is None:
        return None
    f = float(v)
    return f if math.isfinite(f) else None


def _series(samples: Iterable[Mapping[str, Any]], key: str) -> list[float]:
    out = []
    for s in samples:
        v = s.get(key)
        if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
            out.append(float(v))
    return out


def summarize(
    frames: Mapping[str, Sequence[float] | np.ndarray],
    samples: Sequence[Mapping[str, Any]],
    *,
    cold: Mapping[str, Any] | None = None,
    top1: Sequence[int | None] | None = None,
    truth: Mapping[int, int] | None = None,
    frame_index: Sequence[int] | None = None,
    agent_sent: int | None = None,
) -> dict[str, Any]:
    """The run summary. ``frames`` holds arrays ``ts``, ``pre``, ``infer``, ``post``, ``e2e``
    and optionally ``read_ms`` (NaN where not measured).

    Figures the device did not provide (temperature, power) are ``None``:
    "unavailable", never zero.
    """
    ts = np.asarray(frames.get("ts", []), dtype=np.float64)
    n = int(ts.size)
    span = float(ts.max() - ts.min()) if n >= 2 else 0.0
    summary: dict[str, Any] = {
        "frames": n,
        "duration_s": span,
        "fps": (n - 1) / span if n >= 2 and span > 0 else None,
        "latency_ms": {s: latency_stats(frames.get(s, [])) for s in STAGES},
    }
    # Reading the frame (decode, capture) is outside e2e; older agents did not send it.
    if "read_ms" in frames:
        read = np.asarray(frames["read_ms"], dtype=np.float64)
        summary["read_ms"] = latency_stats(read[~np.isnan(read)])
    if cold:
        summary["cold_start_ms"] = {
            "package": _clean(cold.get("package_ms")), "session": _clean(cold.get("session_ms")),
            "first_infer": _clean(cold.get("first_infer_ms")),
            "total": _clean(cold.get("total_ms")),
        }
    else:
        summary["cold_start_ms"] = None

    cpu_sys, cpu_agent = _series(samples, "cpu_sys"), _series(samples, "cpu_agent")
    summary["cpu"] = {
        "sys_mean": float(np.mean(cpu_sys)) if cpu_sys else None,
        "sys_peak": max(cpu_sys) if cpu_sys else None,
        "agent_mean": float(np.mean(cpu_agent)) if cpu_agent else None,
        "agent_peak": max(cpu_agent) if cpu_agent else None,
    }
    rss, used = _series(samples, "rss_mb"), _series(samples, "mem_used_mb")
    summary["memory"] = {"rss_peak_mb": max(rss) if rss else None,
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
