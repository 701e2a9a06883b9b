"""Ranking a sweep's settings on its objective, with the group indistinguishable from the best.

Each setting ran ``rounds`` sessions (``console.session.sweep``). Its figure
is the objective of its steady state (warm-up left out): the end-to-end
p95 (lower is better), the frame rate (higher), or the energy per
inference (lower). The **best** setting is the one with the best estimate;
every other setting is compared against it with the console's own
verdicts (:mod:`console.core.verdicts`, the same rules as ``sessions
compare``), A = the best, B = the other:

* with at least :data:`~console.core.verdicts.MIN_REPEATS` sessions per
  setting, over sessions — each session's own figure, Welch's interval of
  the difference of the means and the Mann–Whitney U p-value
  (:func:`~console.core.verdicts.compare_repeated`): the run-to-run spread is
  measured, not assumed;
* with fewer, on the pooled frames of the setting's sessions (laid end to
  end) — the block bootstrap with the run-to-run allowance of
  :mod:`console.core.verdicts.figures`; energy (one figure a session) is then
  undecidable and says so.

A setting whose comparison is ``regression`` (B worse than the best beyond
the practical threshold at the stated confidence) is out of the best group;
``no change`` and ``inconclusive`` are in it: the data cannot tell them
from the best. Qt-free; reads the log it is handed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from console.core.stats import SessionData, summary_value
from console.core.store import LogStore
from console.core.verdicts import (
    DEFAULT_LEVEL,
    DEFAULT_RELATIVE,
    INCONCLUSIVE,
    MIN_REPEATS,
    REGRESSION,
    FigureVerdict,
    Interval,
    compare_repeated,
    latency_figures,
    latency_intervals,
    rate_figure,
    rate_interval,
    threshold_for,
)
from console.session.budgets import budget_data

BEST = "best"


@dataclass(frozen=True)
class Objective:
    key: str
    name: str  # the figure's name, as compare names it
    unit: str
    better: str  # lower | higher


OBJECTIVES = {
    "p95": Objective("p95", "e2e p95", "ms", "lower"),
    "fps": Objective("fps", "fps", "fps", "higher"),
    "energy": Objective("energy", "energy per inference", "mJ", "lower"),
}


@dataclass(frozen=True)
class Ranked:
    """One setting's place: its figure with its interval and its verdict against the best."""

    rank: int
    label: str
    setting: Mapping[str, Any]
    sessions: tuple[int, ...]
    estimate: float | None
    low: float | None
    high: float | None
    #: ``best``, or the comparison word against the best: regression (worse) | no change |
    #: inconclusive | improvement
    verdict: str
    in_best_group: bool
    reason: str
    #: runs of this setting that did not complete (left out of its figure)
    incomplete: int = 0
    method: str = ""

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["setting"] = dict(self.setting)
        d["sessions"] = list(self.sessions)
        return d


def _pooled(datas: Sequence[SessionData]) -> tuple[np.ndarray, np.ndarray]:
    """The steady-state frames of several sessions laid end to end (1 s apart), so the
    bootstrap's windows never mix two sessions' clocks."""
    ts_parts, v_parts = [], []
    offset = 0.0
    for d in datas:
        e2e = d.stages.get("e2e")
        if e2e is None or not d.ts.size:
            continue
        t = d.ts - d.ts[0] + offset
        ts_parts.append(t)
        v_parts.append(e2e)
        offset = float(t[-1]) + 1.0
    if not ts_parts:
        return np.zeros(0), np.zeros(0)
    return np.concatenate(ts_parts), np.concatenate(v_parts)


def _session_value(obj: Objective, d: SessionData, summary: Mapping[str, Any]) -> float | None:
    if obj.key == "energy":
        return summary_value(summary, "power", "energy_per_inference_mj")
    e2e = d.stages.get("e2e")
    if e2e is None or not d.ts.size:
        return None
    if obj.key == "p95":
        finite = e2e[np.isfinite(e2e)]
        return float(np.percentile(finite, 95)) if finite.size else None
    if d.ts.size < 2:
        return None
    span = float(d.ts[-1] - d.ts[0])
    return (d.ts.size - 1) / span if span > 0 else None


@dataclass(eq=False)
class SettingRuns:
    """What one setting's sessions measured: each session's steady state (``datas``) and
    its objective figure (``values``, one a session)."""

    label: str
    record: Mapping[str, Any]
    sessions: list[int] = field(default_factory=list)
    incomplete: int = 0
    datas: list[SessionData] = field(default_factory=list)
    values: list[float] = field(default_factory=list)

    def pooled_interval(self, obj: Objective, level: float) -> Interval | None:
        ts, v = _pooled(self.datas)
        if obj.key == "p95":
            return latency_intervals(ts, v, level).get("p95") if ts.size else None
        if obj.key == "fps":
            return rate_interval(ts, level) if ts.size > 1 else None
        return None


def _mean_interval(values: Sequence[float], level: float) -> Interval | None:
    from scipy import stats as sps

    x = np.asarray(values, float)
    if not x.size:
        return None
    m = float(x.mean())
    if x.size < 2 or float(np.ptp(x)) == 0.0:
        return Interval(m, m, m, level, int(x.size), "exact" if x.size < 2 else "t")
    half = float(sps.t.ppf(0.5 + level / 2, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
    return Interval(m, m - half, m + half, level, int(x.size), "t over sessions")


def _compare(obj: Objective, best: SettingRuns, other: SettingRuns, tolerance: float,
             level: float) -> FigureVerdict:
    thr = threshold_for(obj.unit, tolerance)
    if min(len(best.values), len(other.values)) >= MIN_REPEATS or obj.key == "energy":
        return compare_repeated(obj.name, obj.unit, obj.better, best.values, other.values, thr,
                                level)
    ta, va = _pooled(best.datas)
    tb, vb = _pooled(other.datas)
    if obj.key == "p95":
        figs = latency_figures("e2e", ta, va, tb, vb, thr, level)
        return next(f for f in figs if f.name == "e2e p95")
    return rate_figure("fps", ta, tb, thr, level)


def rank(store: LogStore, runs: Sequence[tuple[str, Mapping[str, Any], Sequence[int]]],
         objective: str = "p95", *, tolerance: float = DEFAULT_RELATIVE,
         level: float = DEFAULT_LEVEL) -> list[Ranked]:
    """Rank ``runs`` — (label, setting, its session ids) — on ``objective`` (best first;
    settings without a figure last); the figures are read from the log."""
    obj = OBJECTIVES[objective]
    items = []
    for label, record, sids in runs:
        s = SettingRuns(label, record)
        for sid in sids:
            row = store.get_session(int(sid))
            summary = (row or {}).get("summary") or {}
            if row is None or row.get("status") != "completed" or not summary:
                s.incomplete += 1
                continue
            d = budget_data(store, int(sid), summary)
            if d is None:
                s.incomplete += 1
                continue
            v = _session_value(obj, d, summary)
            s.sessions.append(int(sid))
            s.datas.append(d)
            if v is not None and math.isfinite(v):
                s.values.append(v)
        items.append(s)
    return rank_runs(items, objective, tolerance=tolerance, level=level)


def rank_runs(items: Sequence[SettingRuns], objective: str = "p95", *,
              tolerance: float = DEFAULT_RELATIVE, level: float = DEFAULT_LEVEL
              ) -> list[Ranked]:
    """The ranking of settings whose figures are at hand (see the module docstring)."""
    obj = OBJECTIVES[objective]

    def interval(s: SettingRuns) -> Interval | None:
        if len(s.values) >= MIN_REPEATS or obj.key == "energy":
            return _mean_interval(s.values, level)
        return s.pooled_interval(obj, level) or _mean_interval(s.values, level)

    ivs = {id(s): interval(s) for s in items}
    measured = [s for s in items if s.values and ivs[id(s)] is not None]
    sign = 1.0 if obj.better == "lower" else -1.0
    measured.sort(key=lambda s: sign * float(ivs[id(s)].estimate))  # type: ignore[union-attr]
    out: list[Ranked] = []
    best = measured[0] if measured else None
    for k, s in enumerate(measured, 1):
        iv = ivs[id(s)]
        assert iv is not None
        if s is best:
            verdict, why, in_group = BEST, "the best estimate", True
        else:
            assert best is not None
            fv = _compare(obj, best, s, tolerance, level)
            verdict, why = fv.verdict, fv.reason
            in_group = fv.verdict != REGRESSION
        out.append(Ranked(k, s.label, s.record, tuple(s.sessions), iv.estimate, iv.low,
                          iv.high, verdict, in_group, why, s.incomplete, iv.method))
    ranked = {id(s) for s in measured}
    for s in items:
        if id(s) in ranked:
            continue
        why = ("no run of this setting completed" if not s.sessions else
               f"unavailable: no {obj.name} was measured"
               + (" (the device has no power or energy sensor)" if obj.key == "energy" else ""))
        out.append(Ranked(len(out) + 1, s.label, s.record, tuple(s.sessions), None, None, None,
                          INCONCLUSIVE, False, why, s.incomplete))
    return out
