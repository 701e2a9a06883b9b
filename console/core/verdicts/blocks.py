"""Confidence intervals for steady-state figures: a block bootstrap over time windows.

Why blocks. Frames of one run are not independent: on the machines this was
measured on, the latency level of the demo switches between a few regimes
(e.g. 0.15, 0.21, 0.27, 0.33 ms at the median) that last 0.1–1.5 s each —
thread placement, the neighbours' load, the CPU governor — and the rank
autocorrelation of e2e latency is still 0.2 at a lag of 100 frames. An
i.i.d. bootstrap treats 15 000 such frames as 15 000 independent draws and
gives an interval 5–30× too narrow (``tests/core/test_verdicts_recorded.py``
shows it on recorded runs). Resampling whole windows keeps that dependence
inside each resample: the non-overlapping block bootstrap of Carlstein
(1986, *Ann. Statist.* 14:1171) with blocks of at least :data:`WINDOW_S`
seconds, lengthened while the window aggregates are still correlated (the
batch-means rule of Fishman & Yarberry 1997, *INFORMS J. Comput.* 9:296:
double the batch size until the lag-1 correlation of the batch means is not
significant). The resampling and the percentile interval are
``scipy.stats.bootstrap``'s (Efron & Tibshirani 1993, ch. 13), applied to
window indices; the statistic recomputes the figure on the union of the
drawn windows.

Fewer than :data:`MIN_WINDOWS` windows (a run shorter than ~10 s) cannot
show the slow part of the variation at all, so no bootstrap interval is
made: :func:`interval_pair` returns the *range* of the observations instead
(method ``"range"``), which budgets may still use for clear-cut cases
(every frame over a budget) and comparisons always call inconclusive.

Cost. A statistic sees the drawn windows through a count matrix ``W``
(resamples × windows): means are ``W @ sums / W @ counts`` and percentiles
come from the drawn windows' cumulative histograms on a shared log-spaced
grid (bins 0.2 % wide, then linear interpolation inside the bin), so the cost
does not grow with the number of frames: a 100 000-frame session is two histograms and a few
matrix products (``benchmarks/verdicts.py`` prints the time).

Qt-free; numpy + scipy. Deterministic: every bootstrap draws from
``numpy.random.default_rng(SEED)``, so the same data gives the same interval.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

#: Shortest window (block) of the bootstrap, seconds: longer than the latency regimes
#: measured here last (0.1–1.5 s), so most of that variation is between windows.
WINDOW_S = 1.0
#: Fewest observations in a window (slow frame rates, sparse telemetry).
MIN_WINDOW_OBS = 3
#: Fewest windows for a bootstrap interval (fewer: the range, and no decision).
MIN_WINDOWS = 10
#: Most windows: longer sessions get longer windows (cost stays flat).
MAX_WINDOWS = 200
N_RESAMPLES = 2000
SEED = 20240611
#: Relative width of a histogram bin for the percentiles, and the most bins.
BIN_RATIO = 1.002
MAX_BINS = 8192


@dataclass(frozen=True)
class Interval:
    """An estimate with its confidence interval.

    ``method``: ``block bootstrap`` (windows of ``window_s``), ``range`` (too few
    windows: the observed range, no confidence attached), ``wilson`` (a
    proportion), ``exact`` (a single measurement, no sampling error), ``bootstrap``
    (independent repetitions).
    """

    estimate: float
    low: float
    high: float
    level: float
    n: int
    method: str
    windows: int = 0
    window_s: float = 0.0
    #: the part of the half-width that is run-to-run noise (does not shrink with more
    #: frames of the same session), added in quadrature
    run_noise: float = 0.0

    @property
    def decisive(self) -> bool:
        """Whether the interval carries the stated confidence (not a bare range)."""
        return self.method != "range"


@dataclass(frozen=True)
class Windowed:
    """One session's steady-state series cut into bootstrap windows."""

    values: np.ndarray  # finite observations, in time order
    ids: np.ndarray  # window index of each observation, 0..windows-1, non-decreasing
    windows: int
    window_s: float  # mean window duration
    span_s: float  # time the observations cover

    @property
    def n(self) -> int:
        return int(self.values.size)


def _merge_small(ids: np.ndarray, min_obs: int) -> np.ndarray:
    """Renumber windows 0..k-1, merging each window with fewer than ``min_obs``
    observations into the next (the last into the one before)."""
    if ids.size == 0:
        return ids
    _, counts = np.unique(ids, return_counts=True)
    new = np.empty(counts.size, dtype=np.int64)
    cur, filled = 0, 0
    for j, c in enumerate(counts):
        new[j] = cur
        filled += int(c)
        if filled >= min_obs:
            cur, filled = cur + 1, 0
    if filled and cur > 0:  # a short tail joins the window before it
        new[new == cur] = cur - 1
    return np.repeat(new, counts)


def _lag1(x: np.ndarray) -> float:
    if x.size < 3 or np.ptp(x) == 0:
        return 0.0
    d = x - x.mean()
    return float(np.dot(d[:-1], d[1:]) / np.dot(d, d))


def windowed(ts: Sequence[float] | np.ndarray, values: Sequence[float] | np.ndarray,
             window_s: float = WINDOW_S) -> Windowed:
    """Cut a series into windows of at least ``window_s`` (longer when the session
    would have more than :data:`MAX_WINDOWS`, or while the window medians are still
    correlated at lag 1 — one-sided 5 % test, ``r1 > 1.645 / sqrt(k)``)."""
    t = np.asarray(ts, dtype=np.float64)
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:  # a series the session did not record
        t = v
    if t.size != v.size:
        raise ValueError(f"{t.size} times for {v.size} values")
    keep = np.isfinite(v) & np.isfinite(t)
    t, v = t[keep], v[keep]
    if v.size == 0:
        return Windowed(v, np.zeros(0, dtype=np.int64), 0, 0.0, 0.0)
    span = float(t[-1] - t[0])
    w = max(window_s, span / MAX_WINDOWS) if span > 0 else window_s
    ids = _merge_small(np.floor((t - t[0]) / w).astype(np.int64), MIN_WINDOW_OBS)
    k = int(ids[-1]) + 1
    while k >= 2 * MIN_WINDOWS:
        med = np.array([np.median(v[ids == j]) for j in range(k)])
        if _lag1(med) <= 1.645 / math.sqrt(k):
            break
        ids = ids // 2
        k = int(ids[-1]) + 1
    return Windowed(v, ids, k, span / k if k else 0.0, span)


# -- statistics over drawn windows ----------------------------------------------------
#: f(W) -> (outputs, batch): W is the (batch, windows) matrix of how often each window
#: was drawn.
Stat = Callable[[np.ndarray], np.ndarray]


def _grid(pooled: np.ndarray) -> np.ndarray | None:
    """Shared histogram edges for the percentiles of both sessions (None: constant data)."""
    lo, hi = float(pooled.min()), float(pooled.max())
    if not hi > lo:
        return None
    s = lo if lo > 0 else max(hi * 1e-3, 1e-12)
    g_lo, g_hi = math.log(s), math.log(hi - lo + s)
    bins = int(min(MAX_BINS, max(16, math.ceil((g_hi - g_lo) / math.log(BIN_RATIO)))))
    edges = np.exp(np.linspace(g_lo, g_hi, bins + 1)) - s + lo
    edges[0], edges[-1] = lo, hi
    return edges


def _hist(w: Windowed, edges: np.ndarray) -> np.ndarray:
    bins = edges.size - 1
    j = np.clip(np.searchsorted(edges, w.values, side="right") - 1, 0, bins - 1)
    flat = np.bincount(w.ids * bins + j, minlength=w.windows * bins)
    return flat.reshape(w.windows, bins)


def _cum_at(W: np.ndarray, cum_h: np.ndarray, j: np.ndarray) -> np.ndarray:
    """Cumulative count of each resample (rows of ``W``) at its own bin ``j``."""
    return np.einsum("bk,kb->b", W, cum_h[:, j])


def _quantiles(W: np.ndarray, cum_h: np.ndarray, edges: np.ndarray, qs: Sequence[float]
               ) -> np.ndarray:
    """numpy's linear percentile of every resample, read off the windows' cumulative
    histograms by a binary search per resample: O(resamples · windows · log bins), no
    (resamples × bins) matrix and no BLAS call (whose threads fight a busy machine)."""
    bins = cum_h.shape[1]
    total = W @ cum_h[:, -1]
    out = []
    steps = math.ceil(math.log2(bins)) + 1
    for q in qs:
        r = q * (total - 1.0)
        lo = np.zeros(W.shape[0], dtype=np.int64)
        hi = np.full(W.shape[0], bins - 1, dtype=np.int64)
        for _ in range(steps):  # first bin whose cumulative count exceeds r
            mid = (lo + hi) // 2
            right = _cum_at(W, cum_h, mid) <= r
            lo = np.where(right, mid + 1, lo)
            hi = np.where(right, hi, mid)
        j = np.minimum(lo, bins - 1)
        before = np.where(j > 0, _cum_at(W, cum_h, np.maximum(j - 1, 0)), 0.0)
        cnt = np.maximum(_cum_at(W, cum_h, j) - before, 1.0)
        frac = np.clip((r - before + 0.5) / cnt, 0.0, 1.0)
        out.append(edges[j] + frac * (edges[j + 1] - edges[j]))
    return np.vstack(out)


def quantile_stat(w: Windowed, edges: np.ndarray | None, qs: Sequence[float]) -> Stat:
    if edges is None:  # constant data: every resample gives the same value
        const = float(w.values[0]) if w.n else math.nan
        return lambda W: np.full((len(qs), W.shape[0]), const)
    cum_h = np.cumsum(_hist(w, edges), axis=1, dtype=np.float64)
    return lambda W: _quantiles(W.astype(np.float64), cum_h, edges, qs)


def ratio_stat(num: np.ndarray, den: np.ndarray) -> Stat:
    """Σnum / Σden over the drawn windows (a mean: sums / counts; a rate: frames / time)."""
    num64, den64 = num.astype(np.float64), den.astype(np.float64)

    def f(W: np.ndarray) -> np.ndarray:
        d = W @ den64
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(d > 0, (W @ num64) / d, np.nan)[None, :]

    return f


def mean_stat(w: Windowed) -> Stat:
    return ratio_stat(np.bincount(w.ids, w.values, minlength=w.windows),
                      np.bincount(w.ids, minlength=w.windows))


def _counts(ix: np.ndarray, k: int) -> np.ndarray:
    """Index resamples (..., k) -> how often each window was drawn (batch, k)."""
    ix2 = ix.reshape(-1, ix.shape[-1]).astype(np.int64)
    flat = ix2 + k * np.arange(ix2.shape[0])[:, None]
    return np.bincount(flat.ravel(), minlength=ix2.shape[0] * k).reshape(ix2.shape[0], k)


def _restore(out: np.ndarray, ix: np.ndarray) -> np.ndarray:
    return out.reshape((out.shape[0], *ix.shape[:-1]))


@dataclass(frozen=True)
class PairIntervals:
    """Per-session intervals and the interval of the difference B - A, one per output."""

    a: list[Interval]
    b: list[Interval]
    diff: list[Interval]


def _full(f: Stat, k: int) -> np.ndarray:
    return f(np.ones((1, k)))[:, 0]


def interval_pair(wa: Windowed, fa: Stat, wb: Windowed, fb: Stat, exact_a: Sequence[float],
                  exact_b: Sequence[float], level: float) -> PairIntervals:
    """Bootstrap both sessions (independently) and their difference for every output of
    the statistics; ``exact_*`` are the point estimates (the figures the summary shows),
    binning offsets are removed by shifting each interval onto them."""
    ea, eb = np.asarray(exact_a, dtype=np.float64), np.asarray(exact_b, dtype=np.float64)
    m = ea.size
    ok = wa.windows >= MIN_WINDOWS and wb.windows >= MIN_WINDOWS
    if not ok:
        ra, rb = _ranges(wa, fa, m), _ranges(wb, fb, m)
        return PairIntervals(
            [Interval(float(ea[i]), *ra[i], level, wa.n, "range", wa.windows, wa.window_s)
             for i in range(m)],
            [Interval(float(eb[i]), *rb[i], level, wb.n, "range", wb.windows, wb.window_s)
             for i in range(m)],
            [Interval(float(eb[i] - ea[i]), rb[i][0] - ra[i][1], rb[i][1] - ra[i][0], level,
                      min(wa.n, wb.n), "range", min(wa.windows, wb.windows))
             for i in range(m)])
    ka, kb = wa.windows, wb.windows

    def stat(ia: np.ndarray, ib: np.ndarray, axis: int = -1) -> np.ndarray:
        va = fa(_counts(ia, ka))
        vb = fb(_counts(ib, kb))
        return _restore(np.vstack([va, vb, vb - va]), ia)

    res = sps.bootstrap((np.arange(ka), np.arange(kb)), stat, n_resamples=N_RESAMPLES,
                        batch=500, vectorized=True, paired=False, confidence_level=level,
                        method="percentile", rng=np.random.default_rng(SEED))
    lo = np.asarray(res.confidence_interval.low, dtype=np.float64)
    hi = np.asarray(res.confidence_interval.high, dtype=np.float64)
    full_a, full_b = _full(fa, ka), _full(fb, kb)
    shift = np.concatenate([ea - full_a, eb - full_b, (eb - ea) - (full_b - full_a)])
    lo, hi = lo + shift, hi + shift
    est = np.concatenate([ea, eb, eb - ea])

    def mk(i: int, w: Windowed, n: int) -> Interval:
        low, high = min(lo[i], est[i]), max(hi[i], est[i])
        return Interval(float(est[i]), float(low), float(high), level, n, "block bootstrap",
                        w.windows, w.window_s)

    return PairIntervals([mk(i, wa, wa.n) for i in range(m)],
                         [mk(m + i, wb, wb.n) for i in range(m)],
                         [mk(2 * m + i, wa if ka <= kb else wb, min(wa.n, wb.n))
                          for i in range(m)])


def interval_one(w: Windowed, f: Stat, exact: Sequence[float], level: float
                 ) -> list[Interval]:
    """The interval of each output of ``f`` for one session (budgets, error bars)."""
    return interval_pair(w, f, w, f, exact, exact, level).a


def _ranges(w: Windowed, f: Stat, m: int) -> list[tuple[float, float]]:
    """The observed range (a short session: no confidence, only what the data spans).
    Every statistic here — percentiles, means, rates built as harmonic means of
    per-frame rates — lies inside the range of its observations."""
    if w.n == 0:
        return [(math.nan, math.nan)] * m
    return [(float(w.values.min()), float(w.values.max()))] * m


def iid_interval(values: np.ndarray, q: float, level: float,
                 n_resamples: int = N_RESAMPLES) -> Interval:
    """The plain i.i.d. percentile bootstrap of one percentile — kept to show, on recorded
    data, how over-confident it is for dependent frames; never used for a verdict."""
    v = np.asarray(values, dtype=np.float64)
    res = sps.bootstrap((v,), lambda x, axis=-1: np.percentile(x, q * 100, axis=axis),
                        n_resamples=n_resamples, vectorized=True, method="percentile",
                        confidence_level=level, rng=np.random.default_rng(SEED))
    return Interval(float(np.percentile(v, q * 100)), float(res.confidence_interval.low),
                    float(res.confidence_interval.high), level, v.size, "iid bootstrap",
                    v.size, 0.0)


def widen(iv: Interval, allowance: float) -> Interval:
    """``iv`` with a further independent error of half-width ``allowance`` added in
    quadrature on each side (the run-to-run component, see :data:`RUN_NOISE`). A range
    (no confidence: what one short session's frames span) is one session's figure, >= 0:
    its ends move by the same factor, ``1 + allowance / estimate`` — a slow frame's
    reach scaled like the figure would be by a slower run."""
    if allowance <= 0 or not math.isfinite(iv.estimate):
        return iv
    e = iv.estimate
    if iv.method == "range":
        k = 1.0 + allowance / abs(e) if e else 1.0
        lo = iv.low / k if iv.low >= 0 else iv.low * k
        hi = iv.high * k if iv.high >= 0 else iv.high / k
        return Interval(e, lo, hi, iv.level, iv.n, iv.method, iv.windows, iv.window_s,
                        math.hypot(iv.run_noise, allowance))
    lo = e - math.hypot(e - iv.low, allowance)
    hi = e + math.hypot(iv.high - e, allowance)
    return Interval(e, lo, hi, iv.level, iv.n, iv.method, iv.windows, iv.window_s,
                    math.hypot(iv.run_noise, allowance))


def widen_relative(iv: Interval, cv: float) -> Interval:
    """One session's positive figure with a run-to-run factor of relative SD ``cv``: on
    the log scale (run effects multiply: a busier run slows every frame by a factor), the
    half-widths ``log(hi/e)``, ``log(e/lo)`` and ``z * sigma`` (``sigma =
    sqrt(log(1 + cv**2))``, the log-normal with that relative SD) added in quadrature.
    A skewed figure (p99's spread between runs is ~100 %) keeps a lower bound above zero,
    so a run whose every frame is far over a budget can fail it. Falls back to
    :func:`widen` when the estimate or the lower bound is not positive."""
    e = iv.estimate
    if cv <= 0 or not math.isfinite(e):
        return iv
    z = z_of(iv.level)
    if e <= 0 or iv.low <= 0:
        return widen(iv, z * cv * abs(e))
    zs = z * math.sqrt(math.log1p(cv * cv))
    if iv.method == "range":  # the frames' span, each end moved by the run-to-run factor
        lo, hi = iv.low * math.exp(-zs), iv.high * math.exp(zs)
    else:
        lo = e * math.exp(-math.hypot(math.log(e / iv.low), zs))
        hi = e * math.exp(math.hypot(math.log(max(iv.high, e) / e), zs))
    return Interval(e, lo, hi, iv.level, iv.n, iv.method, iv.windows, iv.window_s,
                    math.hypot(iv.run_noise, z * cv * e))


def z_of(level: float) -> float:
    return float(sps.norm.ppf(0.5 + level / 2.0))


def _nonnegative(iv: Interval) -> Interval:
    """Every figure here (a latency, a rate, CPU, memory) is >= 0: so is its interval."""
    if iv.estimate >= 0 and iv.low < 0:
        return Interval(iv.estimate, 0.0, iv.high, iv.level, iv.n, iv.method, iv.windows,
                        iv.window_s, iv.run_noise)
    return iv


def widen_pair(p: PairIntervals, cvs: Sequence[float],
               measured: Sequence[bool] = ()) -> PairIntervals:
    """Add the run-to-run component (relative SD ``cv`` of one session's figure between
    identical runs) to each session's interval and, for two sessions, to the difference.
    ``measured[i]``: figure ``i``'s allowance was measured from identical sessions
    (:mod:`console.core.verdicts.noise`); then a pair too short to bootstrap is decided
    by that spread alone (method ``identical sessions``), since the spread between whole
    sessions already holds their sampling error."""
    a, b, d = [], [], []
    flags = list(measured) + [False] * (len(cvs) - len(measured))
    for i, cv in enumerate(cvs):
        if flags[i] and p.diff[i].method == "range":
            ia, ib, di = _from_sessions(p.a[i], p.b[i], p.diff[i], cv)
            a.append(ia)
            b.append(ib)
            d.append(di)
            continue
        z = z_of(p.a[i].level)
        ea, eb = abs(p.a[i].estimate), abs(p.b[i].estimate)
        wa = _nonnegative(widen_relative(p.a[i], cv))
        wb = _nonnegative(widen_relative(p.b[i], cv))
        a.append(wa)
        b.append(wb)
        di, noise = p.diff[i], z * cv * math.hypot(ea, eb)
        if di.method == "range":  # what the two widened ranges allow (a factor on a
            # difference near 0 would explode): from B's lowest - A's highest up
            d.append(Interval(di.estimate, wb.low - wa.high, wb.high - wa.low, di.level, di.n,
                              di.method, di.windows, di.window_s,
                              math.hypot(di.run_noise, noise)))
        else:
            d.append(widen(di, noise))
    return PairIntervals(a, b, d)


SESSIONS_METHOD = "identical sessions"


def _from_sessions(a: Interval, b: Interval, d: Interval, cv: float
                   ) -> tuple[Interval, Interval, Interval]:
    """A short pair's intervals from the measured spread alone: each session's figure
    ``e * exp(±z s)``, the difference from ``log(b / a) ± z s sqrt 2`` (``s`` the log-scale
    SD whose relative SD is ``cv``, Student's factor already in it); additive when a
    figure is not positive."""
    z = z_of(d.level)
    zs = z * math.sqrt(math.log1p(cv * cv))
    ea, eb = a.estimate, b.estimate

    def one(iv: Interval) -> Interval:
        e = iv.estimate
        lo, hi = (e * math.exp(-zs), e * math.exp(zs)) if e > 0 else \
            (e - z * cv * abs(e), e + z * cv * abs(e))
        return Interval(e, lo, hi, iv.level, iv.n, SESSIONS_METHOD, iv.windows, iv.window_s,
                        z * cv * abs(e))

    noise = z * cv * math.hypot(ea, eb)
    if ea > 0 and eb > 0:
        h = zs * math.sqrt(2.0)
        r = math.log(eb / ea)
        lo, hi = ea * math.expm1(r - h), ea * math.expm1(r + h)
    else:
        lo, hi = d.estimate - noise, d.estimate + noise
    return one(a), one(b), Interval(d.estimate, lo, hi, d.level, d.n, SESSIONS_METHOD,
                                    d.windows, d.window_s, noise)
