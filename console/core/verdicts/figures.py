"""Figures of one series with intervals: percentiles and mean, rates, telemetry means.

The shapes of data the rest of the console compares or budgets: a
per-frame latency series (percentiles + mean), the frame rate, and a
telemetry series (mean). Each function takes steady-state arrays
(``ts`` in seconds, values in the figure's unit; warm-up already removed,
see :mod:`console.core.stats`) and returns intervals or verdicts built by
:mod:`console.core.verdicts.blocks` and :mod:`console.core.verdicts.rules`.

Run-to-run noise. A session is one execution, and some of what varies
between executions is constant within one (thread placement, memory layout,
a neighbour busy for the whole run): no resampling of one session can see
it (Kalibera & Jones 2013, "Rigorous benchmarking in reasonable time",
ISMM, call it the execution-level variance). :data:`RUN_NOISE` is that
component — the relative standard deviation of a figure between identical
sessions beyond what the block bootstrap accounts for — measured by the
dimensioning run of ``benchmarks/verdicts.py`` on these machines; it is
added to every interval — to each session's own on the log scale
(:func:`~console.core.verdicts.blocks.widen_relative`), to the difference
in quadrature (``z * cv * sqrt(A**2 + B**2)``) — and ``run_noise={}`` leaves
it out, for a quiet dedicated device whose own dimensioning says so.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from console.core.verdicts.blocks import (
    MIN_WINDOWS,
    Interval,
    PairIntervals,
    Stat,
    Windowed,
    _grid,
    interval_pair,
    mean_stat,
    quantile_stat,
    ratio_stat,
    widen_pair,
    windowed,
)
from console.core.verdicts.rules import (
    DEFAULT_LEVEL,
    FigureVerdict,
    Threshold,
    decide,
    missing_for_windows,
    would_decide,
)

#: The percentiles compared and budgeted, as fractions, with their figure names.
PERCENTILES = {"p50": 0.50, "p90": 0.90, "p95": 0.95, "p99": 0.99}
#: Fewest observations beyond a percentile (on its rarer side) for an interval: p99
#: needs 1 000 frames, p95 200. Fewer: the order statistics that bound it are not there.
TAIL_OBS = 10
#: Relative run-to-run SD per kind of figure (see the module docstring): the spread of a
#: figure between identical sessions beyond what the block bootstrap covers, measured by
#: ``benchmarks/verdicts.py``'s dimensioning on the shared 2-core lab VMs: three runs of
#: 20 rounds of 12-s demo sessions at load averages 3-8 (docs/benchmarks.md). The first
#: run gave the SD between sessions; the later two also the tail measure (the 95th
#: percentile of |log ratio| over all pairs of identical sessions / (1.96 sqrt 2): on a
#: shared machine a few sessions run starved, at a third of the frame rate, and an SD
#: misses them). Each kind takes the largest of the runs and of the stages. Keys
#: ``"<stage> <kind>"`` override a kind for one stage: reading the recording (``read``)
#: swings far more between runs than the model's stages. A quiet dedicated board is
#: quieter: pass its own dimensioning as ``run_noise``.
RUN_NOISE: dict[str, float] = {"p50": 0.20, "p90": 0.22, "p95": 0.31, "p99": 1.0,
                               "mean": 0.20, "fps": 0.32, "cpu": 0.16, "memory": 0.02,
                               "temperature": 0.05, "power": 0.15,
                               "read p90": 0.75, "read p95": 0.92, "read p99": 1.10,
                               "read mean": 0.42}

Arr = Sequence[float] | np.ndarray


def min_obs_for(q: float) -> int:
    return math.ceil(TAIL_OBS / min(q, 1.0 - q))


def _latency_stats(w: Windowed, edges: np.ndarray | None) -> Stat:
    qf = quantile_stat(w, edges, list(PERCENTILES.values()))
    mf = mean_stat(w)
    return lambda W: np.vstack([qf(W), mf(W)])


def _exact(values: np.ndarray) -> list[float]:
    if values.size == 0:
        return [math.nan] * (len(PERCENTILES) + 1)
    return [float(v) for v in np.percentile(values, [q * 100 for q in PERCENTILES.values()])] \
        + [float(values.mean())]


Noise = tuple[list[float], list[bool]]


def _noise(run_noise: Mapping[str, float] | None, *kinds: str, stage: str = "") -> Noise:
    """Each kind's allowance, and whether it was measured from identical sessions
    (:class:`~console.core.verdicts.noise.MeasuredNoise`) rather than assumed."""
    rn = RUN_NOISE if run_noise is None else run_noise
    measured: frozenset[str] = getattr(rn, "measured", frozenset())
    keys = [f"{stage} {k}" if f"{stage} {k}" in rn else k for k in kinds]
    return [rn.get(k, 0.0) for k in keys], [k in measured for k in keys]


_LAT_KINDS = (*PERCENTILES, "mean")


def _pair(wa: Windowed, fa: Stat, wb: Windowed, fb: Stat, ea: Sequence[float],
          eb: Sequence[float], level: float, noise: Noise) -> PairIntervals:
    return widen_pair(interval_pair(wa, fa, wb, fb, ea, eb, level), *noise)


def latency_intervals(ts: Arr, values: Arr, level: float = DEFAULT_LEVEL,
                      run_noise: Mapping[str, float] | None = None, stage: str = "e2e"
                      ) -> dict[str, Interval]:
    """p50/p90/p95/p99 and mean of one session's steady-state series, with intervals."""
    w = windowed(ts, values)
    if w.n == 0:
        return {}
    f = _latency_stats(w, _grid(w.values))
    ex = _exact(w.values)
    return dict(zip(_LAT_KINDS, _pair(w, f, w, f, ex, ex, level,
                                      _noise(run_noise, *_LAT_KINDS, stage=stage)).a))


def latency_figures(stage: str, a_ts: Arr, a_values: Arr, b_ts: Arr, b_values: Arr,
                    threshold: Threshold, level: float = DEFAULT_LEVEL,
                    unit: str = "ms", run_noise: Mapping[str, float] | None = None
                    ) -> list[FigureVerdict]:
    """``<stage> p50 … p99`` and ``<stage> mean`` of A and B, decided."""
    wa, wb = windowed(a_ts, a_values), windowed(b_ts, b_values)
    names = [f"{stage} {p}" for p in PERCENTILES] + [f"{stage} mean"]
    if wa.n == 0 or wb.n == 0:
        return [decide(n, unit, "lower", None if wa.n == 0 else _point(wa, i),
                       None if wb.n == 0 else _point(wb, i), None, threshold)
                for i, n in enumerate(names)]
    edges = _grid(np.concatenate([wa.values, wb.values]))
    noise = _noise(run_noise, *_LAT_KINDS, stage=stage)
    pair = _pair(wa, _latency_stats(wa, edges), wb, _latency_stats(wb, edges),
                 _exact(wa.values), _exact(wb.values), level, noise)
    out = []
    short = _short_more(wa, wb)
    qs = [*PERCENTILES.values(), None]
    for i, name in enumerate(names):
        fv = decide(name, unit, "lower", pair.a[i], pair.b[i], pair.diff[i], threshold,
                    **short)
        q = qs[i]
        need = 0 if q is None else min_obs_for(q)
        # a spread measured between identical sessions (as long as these) already is
        # the uncertainty of their percentile, however few frames are beyond it
        if q is not None and min(wa.n, wb.n) < need and fv.verdict != "inconclusive" \
                and not noise[1][i]:
            fv = FigureVerdict(**{**fv.__dict__, "verdict": "inconclusive",
                                  "reason": f"{name} needs ≥ {need} frames per session for an "
                                            "interval; " + would_decide(need - min(wa.n, wb.n),
                                                                        "frames", name),
                                  "more_needed": need - min(wa.n, wb.n)})
        out.append(fv)
    return out


def _point(w: Windowed, i: int) -> Interval:
    v = _exact(w.values)[i]
    return Interval(v, v, v, DEFAULT_LEVEL, w.n, "range", w.windows, w.window_s)


def _short_more(wa: Windowed, wb: Windowed, rates: Sequence[float | None] = (None, None)
                ) -> dict[str, Any]:
    """For a pair too short to bootstrap: the observations (None: a rate is unknown) and
    seconds more per session that would make it long enough (``decide``'s keywords)."""
    needs = [missing_for_windows(w.n, w.span_s, r) for w, r in zip((wa, wb), rates)
             if w.windows < MIN_WINDOWS]
    if not needs:
        return {}
    counts = [n for n, _s in needs]
    return {"short_more": None if None in counts else max(c for c in counts if c),
            "short_s": max(s for _n, s in needs)}


def _rate_of(ts: Arr) -> float | None:
    """Samples per second of a series' own clock (its missing values still count)."""
    t = np.asarray(ts, dtype=np.float64)
    t = t[np.isfinite(t)]
    return (t.size - 1) / float(t[-1] - t[0]) if t.size >= 2 and t[-1] > t[0] else None


def _rate_series(ts: Arr) -> tuple[np.ndarray, np.ndarray]:
    """Per-frame instantaneous rates (1/interval) stamped at the later frame."""
    t = np.asarray(ts, dtype=np.float64)
    dt = np.diff(t)
    ok = dt > 0
    return t[1:][ok], 1.0 / dt[ok]


def _rate_stat(w: Windowed) -> Stat:
    # frames / time over the drawn windows: Σ count / Σ interval (a harmonic mean of rates)
    return ratio_stat(np.bincount(w.ids, minlength=w.windows).astype(np.float64),
                      np.bincount(w.ids, 1.0 / w.values, minlength=w.windows))


def rate_interval(ts: Arr, level: float = DEFAULT_LEVEL,
                  run_noise: Mapping[str, float] | None = None) -> Interval | None:
    """Frames per second of one session's steady state, with its interval."""
    t, r = _rate_series(ts)
    w = windowed(t, r)
    if w.n == 0:
        return None
    f, ex = _rate_stat(w), [w.n / float(np.sum(1.0 / w.values))]
    return _pair(w, f, w, f, ex, ex, level, _noise(run_noise, "fps")).a[0]


def rate_figure(name: str, a_ts: Arr, b_ts: Arr, threshold: Threshold,
                level: float = DEFAULT_LEVEL, run_noise: Mapping[str, float] | None = None
                ) -> FigureVerdict:
    wa, wb = (windowed(*_rate_series(t)) for t in (a_ts, b_ts))

    def rate(w: Windowed) -> float:
        return w.n / float(np.sum(1.0 / w.values))

    if wa.n == 0 or wb.n == 0:
        return decide(name, "fps", "higher",
                      None if wa.n == 0 else Interval(rate(wa), rate(wa), rate(wa), level, wa.n,
                                                      "range"),
                      None if wb.n == 0 else Interval(rate(wb), rate(wb), rate(wb), level, wb.n,
                                                      "range"), None, threshold)
    ea, eb = rate(wa), rate(wb)
    pair = _pair(wa, _rate_stat(wa), wb, _rate_stat(wb), [ea], [eb], level,
                 _noise(run_noise, "fps"))
    return decide(name, "fps", "higher", pair.a[0], pair.b[0], pair.diff[0], threshold,
                  **_short_more(wa, wb))


def mean_interval(ts: Arr, values: Arr, level: float = DEFAULT_LEVEL,
                  run_noise: Mapping[str, float] | None = None, kind: str = "cpu"
                  ) -> Interval | None:
    """The steady-state mean of a telemetry series of one session, with its interval."""
    w = windowed(ts, values)
    if w.n == 0:
        return None
    f, ex = mean_stat(w), [float(w.values.mean())]
    return _pair(w, f, w, f, ex, ex, level, _noise(run_noise, kind)).a[0]


def mean_figure(name: str, unit: str, a_ts: Arr, a_values: Arr, b_ts: Arr, b_values: Arr,
                threshold: Threshold, level: float = DEFAULT_LEVEL, better: str = "lower",
                more_unit: str = "samples", run_noise: Mapping[str, float] | None = None,
                kind: str = "cpu", rates: Sequence[float | None] = (None, None)
                ) -> FigureVerdict:
    """The steady-state mean of a series (telemetry: CPU, memory, temperature, power;
    ``kind`` picks its run-to-run noise; ``rates``: each session's sampling rate when
    known, e.g. from its telemetry period, to say how many more samples would decide)."""
    wa, wb = windowed(a_ts, a_values), windowed(b_ts, b_values)
    if wa.n == 0 or wb.n == 0:
        return decide(name, unit, better,
                      None if wa.n == 0 else _mean_point(wa),
                      None if wb.n == 0 else _mean_point(wb), None, threshold,
                      more_unit=more_unit)
    pair = _pair(wa, mean_stat(wa), wb, mean_stat(wb), [float(wa.values.mean())],
                 [float(wb.values.mean())], level, _noise(run_noise, kind))
    return decide(name, unit, better, pair.a[0], pair.b[0], pair.diff[0], threshold,
                  more_unit=more_unit,
                  **_short_more(wa, wb, (rates[0] or _rate_of(a_ts),
                                         rates[1] or _rate_of(b_ts))))


def _mean_point(w: Windowed) -> Interval:
    v = float(w.values.mean())
    return Interval(v, v, v, DEFAULT_LEVEL, w.n, "range", w.windows, w.window_s)
