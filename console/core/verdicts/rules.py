"""From intervals to words: the four comparison verdicts and the three budget verdicts.

A comparison asks whether B (candidate) differs from A (reference) by more
than a **practical threshold** (:class:`Threshold`: default 5 % of A or an
absolute floor, whichever is larger — 0.05 ms for latencies). The rule is
an equivalence test on the confidence interval of the difference
(Schuirmann 1987, *J. Pharmacokin. Biopharm.* 15:657; Lakens 2017, *Soc.
Psychol. Personal. Sci.* 8:355), the same idea as Criterion.rs's "change
within noise threshold":

* ``regression``   the whole interval is beyond the threshold on the worse side;
* ``improvement``  the whole interval is beyond it on the better side;
* ``no change``    the whole interval is inside ±threshold (a real but
  negligible difference is no change);
* ``inconclusive`` anything else — the interval crosses a threshold, the
  session is too short for an interval, or a figure was not measured —
  with how much more data would decide (:func:`more_needed`).

A budget is checked the same way against its limit (``pass`` when the whole
interval is on the good side, ``fail`` when the whole interval is on the bad
side, ``inconclusive`` otherwise).

Single measurements per session (cold start, a peak) have no interval from
one session; :func:`compare_repeated` decides them — and any figure, from
each session's estimate — over repeated sessions (Welch's interval over
sessions, with the Mann–Whitney U test that Google Benchmark's
``compare.py`` reports over repetitions).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from console.core.verdicts.blocks import MIN_WINDOW_OBS, MIN_WINDOWS, WINDOW_S, Interval

REGRESSION = "regression"
IMPROVEMENT = "improvement"
NO_CHANGE = "no change"
INCONCLUSIVE = "inconclusive"
#: Figure and overall verdicts (the overall verdict: :func:`overall`).
VERDICTS = (REGRESSION, IMPROVEMENT, NO_CHANGE, INCONCLUSIVE)
PASS = "pass"
FAIL = "fail"
BUDGET_VERDICTS = (PASS, FAIL, INCONCLUSIVE)

DEFAULT_LEVEL = 0.95
DEFAULT_RELATIVE = 0.05
#: The absolute part of the practical threshold, per unit: latency 0.05 ms (the issue's
#: default; below it is timer and scheduler jitter), CPU 1 percentage point, memory
#: 1 MiB, temperature 0.5 °C; none for rates, energy and proportions.
ABSOLUTE_FLOORS: dict[str, float] = {"ms": 0.05, "%": 1.0, "MiB": 1.0, "°C": 0.5}
#: Fewest repeated sessions per side before a single-measurement figure is decided.
MIN_REPEATS = 3


@dataclass(frozen=True)
class Threshold:
    """The smallest difference that matters: ``max(relative * |A|, absolute)``."""

    relative: float = DEFAULT_RELATIVE
    absolute: float = 0.0

    def at(self, reference: float) -> float:
        return max(self.relative * abs(reference), self.absolute)

    def describe(self, reference: float, unit: str) -> str:
        t = self.at(reference)
        if self.absolute and t == self.absolute and self.relative * abs(reference) < t:
            return f"{fmt_amount(t, unit)}"
        return f"{self.relative * 100:g} %"


def threshold_for(unit: str, relative: float = DEFAULT_RELATIVE,
                  floors: dict[str, float] | None = None) -> Threshold:
    fl = ABSOLUTE_FLOORS if floors is None else {**ABSOLUTE_FLOORS, **floors}
    return Threshold(relative, fl.get(unit, 0.0))


def fmt_amount(v: float, unit: str) -> str:
    if unit == "ratio":
        return f"{v * 100:.2g} points"
    if unit == "ms":
        return f"{v:.3g} ms"
    return f"{v:.3g} {unit}".strip()


@dataclass(frozen=True)
class FigureVerdict:
    """One compared figure: A, B, the difference B - A with its interval, the verdict.

    ``ci_low``/``ci_high`` bound the difference (in the figure's unit); ``a_ci`` and
    ``b_ci`` are each session's own interval (error bars). ``more_needed`` is how many
    more observations (``more_unit``: frames or samples in each session, or sessions of
    each side) would likely decide an inconclusive figure (None: none would, or not
    estimable).
    """

    name: str
    unit: str
    better: str  # "lower" | "higher"
    a: float | None
    b: float | None
    diff: float | None
    diff_rel: float | None
    ci_low: float | None
    ci_high: float | None
    verdict: str
    reason: str
    more_needed: int | None = None
    more_unit: str = "frames"
    a_ci: Interval | None = None
    b_ci: Interval | None = None
    threshold: float | None = None
    level: float = DEFAULT_LEVEL
    method: str = ""
    #: how much longer each session would run to gather ``more_needed`` (frames/samples)
    more_seconds: float | None = None


def _round2(n: float) -> int:
    if n <= 0:
        return 0
    mag = 10 ** max(0, math.floor(math.log10(n)) - 1)
    return int(math.ceil(n / mag) * mag)


def fmt_count(n: int) -> str:
    return f"{n:,}".replace(",", " ")


def more_needed(diff: Interval, thr: float, n: int) -> int | None:
    """More observations per session that would likely shrink the interval enough to
    decide: the sampling part of the half-width falls as 1/sqrt(n) (block bootstrap: per
    window, the same), the run-to-run part (``diff.run_noise``) does not; deciding needs
    the total below the distance of the estimate from the nearest threshold edge. None
    when no number of frames would do (the estimate sits on the edge, or the run-to-run
    part alone is wider: repeat sessions instead)."""
    half = (diff.high - diff.low) / 2.0
    target = abs(abs(diff.estimate) - thr)
    fixed = min(diff.run_noise, half)
    sampling2 = half * half - fixed * fixed
    room2 = target * target - fixed * fixed
    if sampling2 <= 0 or room2 <= (0.01 * max(thr, 1e-12)) ** 2:
        return None
    factor = sampling2 / room2
    if factor > 100:
        return None
    return _round2(max(n * (factor - 1.0), 0.1 * n, 1.0))


def missing_for_windows(w_n: int, span_s: float, rate: float | None = None,
                        windows: int = MIN_WINDOWS, window_s: float = WINDOW_S
                        ) -> tuple[int | None, float]:
    """What a session too short to bootstrap still lacks for ``windows`` windows of
    ``window_s`` (each with enough observations): (observations at its rate — None when
    the rate is unknown, a single observation —, seconds). ``rate``: the sampling rate when
    known otherwise (telemetry samples whose value was missing still tell the period)."""
    r = rate if rate and rate > 0 else ((w_n - 1) / span_s if w_n >= 2 and span_s > 0
                                        else None)
    per_window = max(window_s, MIN_WINDOW_OBS / r) if r else window_s
    need_s = windows * per_window * 1.05
    more_s = max(need_s - max(span_s, 0.0), window_s)
    if r is None:
        return None, more_s
    return _round2(max(r * need_s - w_n, 1.0)), more_s


def fmt_seconds(s: float) -> str:
    if s >= 120:
        return f"{s / 60:.2g} min"
    return f"{s:.2g} s" if s < 10 else f"{s:.0f} s"


def would_decide(n: int | None, unit: str, name: str, seconds: float | None = None) -> str:
    """``~4 000 more frames (~2 s) would decide e2e p99``: ``n`` more observations in each
    session (frames, samples; ``seconds``: how much longer a run that is), or ``n`` more
    sessions of each side (``unit`` ``sessions``); ``n`` None: only the time is known."""
    if n is None:
        return f"a run ~{fmt_seconds(seconds or 0.0)} longer would decide {name}"
    each = " of each" if unit == "sessions" else ""
    secs = f" (~{fmt_seconds(seconds)})" if seconds and unit != "sessions" else ""
    word = unit.removesuffix("s") if n == 1 else unit
    return f"~{fmt_count(n)} more {word}{each}{secs} would decide {name}"


def sessions_needed(run_noise: float, margin: float, level: float = DEFAULT_LEVEL,
                    most: int = 100) -> int | None:
    """Sessions of each side whose mean would bring the run-to-run part of the interval
    (``run_noise``: its half-width for one session per side) inside ``margin``: the
    half-width over k sessions a side shrinks as t(2k-2)/z / sqrt(k). None: more than
    ``most`` (the difference sits on the threshold)."""
    if margin <= 0 or run_noise <= 0:
        return None
    z = float(sps.norm.ppf(0.5 + level / 2))
    for k in range(MIN_REPEATS, most + 1):
        if float(sps.t.ppf(0.5 + level / 2, 2 * k - 2)) / z * run_noise / math.sqrt(k) \
                < margin:
            return k
    return None


def repeat_advice(run_noise: float, margin: float, name: str) -> str:
    """What decides a figure whose run-to-run spread alone is wider than its margin."""
    k = sessions_needed(run_noise, margin)
    head = "the run-to-run spread alone is wider than the margin: "
    if k is None:
        return head + "the difference sits on the threshold, more data would barely help"
    return head + f"repeat the sessions (~{k} of each would decide {name})"


def _seconds_for(n: int, *ivs: Interval) -> float | None:
    """How long ``n`` more observations take at the slower of the sessions' rates."""
    per = [iv.windows * iv.window_s / iv.n for iv in ivs
           if iv.n and iv.windows and iv.window_s]
    return n * max(per) if per else None


def decide(name: str, unit: str, better: str, a: Interval | None, b: Interval | None,
           diff: Interval | None, threshold: Threshold, *, more_unit: str = "frames",
           missing: str | None = None, short_more: int | None = None,
           short_s: float | None = None) -> FigureVerdict:
    """The verdict of one figure from its intervals (see the module docstring)."""
    known = diff or a or b
    level = known.level if known is not None else DEFAULT_LEVEL
    if a is None or b is None or diff is None or not math.isfinite(a.estimate) \
            or not math.isfinite(b.estimate):
        why = missing or ("neither session measured it" if a is None and b is None
                          else f"{'A' if a is None else 'B'} did not measure it")
        return FigureVerdict(name, unit, better, None if a is None else a.estimate,
                             None if b is None else b.estimate, None, None, None, None,
                             INCONCLUSIVE, f"unavailable: {why}", level=level,
                             a_ci=a, b_ci=b, more_unit=more_unit)
    d = diff.estimate
    rel = d / abs(a.estimate) if a.estimate else (0.0 if d == 0 else math.inf)
    thr = threshold.at(a.estimate)
    tdesc = threshold.describe(a.estimate, unit)
    lvl = f"{level * 100:g} %"
    common = dict(a_ci=a, b_ci=b, threshold=thr, level=level, method=diff.method,
                  more_unit=more_unit)
    lo, hi = diff.low, diff.high
    if not diff.decisive:
        short = min(a.windows, b.windows)
        why = (f"too short to decide: {short} window{'s' if short != 1 else ''} of "
               f"≥ {WINDOW_S:g} s, an interval needs {MIN_WINDOWS}")
        if short_more or short_s:
            margin = abs(abs(d) - thr)
            if diff.run_noise and diff.run_noise >= margin:
                # a longer run gives an interval, but not one narrow enough: say so (how
                # many repeats is not estimated: a short run's spread exceeds RUN_NOISE's)
                longer = would_decide(short_more, more_unit, "", short_s).removesuffix(
                    " would decide ")
                why += (f"; {longer} give{'s' if short_more is None else ''} one, but the "
                        "run-to-run spread alone is wider than the margin: repeat the "
                        f"sessions to decide {name}")
            else:
                why += f"; {would_decide(short_more, more_unit, name, short_s)}"
        return FigureVerdict(name, unit, better, a.estimate, b.estimate, d, rel, lo, hi,
                             INCONCLUSIVE, why, short_more, more_seconds=short_s,
                             **common)  # type: ignore[arg-type]
    worse_lo, worse_hi = (lo, hi) if better == "lower" else (-hi, -lo)
    if worse_lo > thr:
        v, why = REGRESSION, f"worse beyond {tdesc} at {lvl} confidence"
    elif worse_hi < -thr:
        v, why = IMPROVEMENT, f"better beyond {tdesc} at {lvl} confidence"
    elif worse_lo >= -thr and worse_hi <= thr:
        v, why = NO_CHANGE, f"within ±{tdesc} at {lvl} confidence"
    else:
        v = INCONCLUSIVE
        side = "includes a change beyond" if (worse_lo < -thr or worse_hi > thr) else "crosses"
        why = f"the {lvl} interval {side} ±{tdesc}"
    more = more_needed(diff, thr, min(a.n, b.n)) if v == INCONCLUSIVE else None
    more_s = _seconds_for(more, a, b) if more and more_unit != "sessions" else None
    if v == INCONCLUSIVE:
        if more:
            why += f"; {would_decide(more, more_unit, name, more_s)}"
        elif diff.run_noise >= abs(abs(d) - thr):
            why += "; " + repeat_advice(diff.run_noise, abs(abs(d) - thr), name)
        else:
            why += "; the difference sits on the threshold: more data would barely help"
    return FigureVerdict(name, unit, better, a.estimate, b.estimate, d, rel, lo, hi, v, why,
                         more, more_seconds=more_s, **common)  # type: ignore[arg-type]


def overall(verdicts: Sequence[str]) -> str:
    """The verdict of one measured quantity (e.g. the e2e p50/p90/p95/p99/mean): the worst
    decided one — ``inconclusive`` only when nothing decisive was found and something
    could not be decided."""
    for v in (REGRESSION, IMPROVEMENT, NO_CHANGE):
        if v in verdicts:
            return v
    return INCONCLUSIVE


def overall_of_groups(groups: Sequence[Sequence[str]]) -> str:
    """The verdict of a comparison from its quantities' figure verdicts: ``regression`` if
    any quantity regressed, else ``improvement``; else ``inconclusive`` if some quantity
    could not be decided at all (a decided p90 of pre-processing must not hide an
    undecided e2e), else ``no change``."""
    each = [overall(g) for g in groups if g]
    for v in (REGRESSION, IMPROVEMENT, INCONCLUSIVE):
        if v in each:
            return v
    return NO_CHANGE if each else INCONCLUSIVE


def counts_overall(fv: FigureVerdict) -> bool:
    """Whether a figure takes part in the overall verdict: not when neither session
    measured it, nor when it is one measurement per session (only repeated sessions can
    decide those; the figure still says so)."""
    if fv.a is None and fv.b is None:
        return False
    return not (fv.method == "repetitions" and fv.more_unit == "sessions")


# -- budgets --------------------------------------------------------------------------
@dataclass(frozen=True)
class BudgetVerdict:
    """One budget against one session's interval (``upper``: the limit is a ceiling)."""

    budget: str
    limit: float
    estimate: float | None
    low: float | None
    high: float | None
    verdict: str
    reason: str
    upper: bool = True
    level: float = DEFAULT_LEVEL
    method: str = ""


def _budget_more(iv: Interval, limit: float, name: str, unit: str) -> str:
    """What would decide an inconclusive budget: a run long enough for an interval, more
    frames (the sampling part of the interval shrinks as 1/sqrt(n)), or nothing a longer
    run can do (the run-to-run part alone reaches past the limit)."""
    noisy = iv.run_noise >= abs(iv.estimate - limit)
    if iv.method == "range":
        n, secs = missing_for_windows(iv.n, iv.windows * iv.window_s)
        if not noisy:
            return f"; {would_decide(n, unit, name, secs)}"
        longer = would_decide(n, unit, "", secs).removesuffix(" would decide ")
        return (f"; {longer} give{'s' if n is None else ''} an interval, but the run-to-run "
                "spread alone reaches past the limit: a longer run would not decide it")
    if iv.method != "block bootstrap":
        return ""
    shifted = Interval(iv.estimate - limit, iv.low - limit, iv.high - limit, iv.level, iv.n,
                       iv.method, iv.windows, iv.window_s, iv.run_noise)
    more = more_needed(shifted, 0.0, iv.n)
    if more:
        return f"; {would_decide(more, unit, name, _seconds_for(more, iv))}"
    if noisy:
        return ("; the run-to-run spread alone reaches past the limit: a longer run would "
                "not decide it")
    return "; the figure sits on the limit: more frames would barely help"


def check_budget(budget: str, limit: float, iv: Interval | None, *, upper: bool = True,
                 unit: str = "", missing: str = "not measured",
                 more_unit: str = "frames") -> BudgetVerdict:
    """``pass`` when the whole interval is on the good side of ``limit``, ``fail`` when the
    whole interval is on the bad side, ``inconclusive`` otherwise. A range (a session
    too short for an interval) decides only when every observation is on one side."""
    if iv is None or not math.isfinite(iv.estimate):
        return BudgetVerdict(budget, limit, None, None, None, INCONCLUSIVE,
                             f"unavailable: {missing}", upper)
    lo, hi = iv.low, iv.high
    good = hi <= limit if upper else lo >= limit
    bad = lo > limit if upper else hi < limit
    what = (f"the {iv.level * 100:g} % interval" if iv.decisive and iv.method != "exact"
            else ("the range of the frames (too short for an interval)"
                  if iv.method == "range" else "the measured value"))
    sign = "≤" if upper else "≥"
    u = f" {unit}" if unit else ""
    if good:
        v, why = PASS, f"{what} {sign} {limit:g}{u}"
    elif bad:
        v, why = FAIL, f"{what} beyond {limit:g}{u}"
    else:
        v = INCONCLUSIVE
        why = (f"{what} [{lo:.4g}, {hi:.4g}]{u} includes {limit:g}{u}"
               + _budget_more(iv, limit, budget, more_unit))
    return BudgetVerdict(budget, limit, iv.estimate, lo, hi, v, why, upper, iv.level,
                         iv.method)


# -- repeated sessions (one measurement each) -----------------------------------------
def exact(value: float | None, level: float = DEFAULT_LEVEL) -> Interval | None:
    """A single measurement as an interval with no sampling error (its own run's fact)."""
    if value is None or not math.isfinite(value):
        return None
    return Interval(value, value, value, level, 1, "exact")


def _t_interval(x: np.ndarray, level: float) -> Interval:
    m = float(np.mean(x))
    if x.size < 2:
        return Interval(m, m, m, level, int(x.size), "exact")
    half = float(sps.t.ppf(0.5 + level / 2, x.size - 1) * np.std(x, ddof=1) / np.sqrt(x.size))
    return Interval(m, m - half, m + half, level, int(x.size), "t")


def compare_repeated(name: str, unit: str, better: str, values_a: Sequence[float],
                     values_b: Sequence[float], threshold: Threshold,
                     level: float = DEFAULT_LEVEL) -> FigureVerdict:
    """A figure over repeated sessions (one value per session: a cold start, a peak, or a
    session's p95): the difference of the means with Welch's interval (Welch 1947,
    *Biometrika* 34:28; ``scipy.stats.ttest_ind(equal_var=False)``) — sessions are
    independent runs, so their spread *is* the run-to-run noise — and the two-sided
    Mann–Whitney U p-value in the reason, as Google Benchmark's ``compare.py`` reports
    over repetitions. Fewer than :data:`MIN_REPEATS` per side: inconclusive."""
    va = np.asarray([v for v in values_a if v is not None and math.isfinite(v)], float)
    vb = np.asarray([v for v in values_b if v is not None and math.isfinite(v)], float)
    if va.size == 0 or vb.size == 0:
        return decide(name, unit, better, None if va.size == 0 else exact(float(va[0])),
                      None if vb.size == 0 else exact(float(vb[0])), None, threshold)
    ma, mb = float(np.mean(va)), float(np.mean(vb))
    n = min(va.size, vb.size)
    if n < MIN_REPEATS:
        need = MIN_REPEATS - n
        d = mb - ma
        return FigureVerdict(
            name, unit, better, ma, mb, d, d / abs(ma) if ma else None, None, None,
            INCONCLUSIVE, f"{'one measurement' if n == 1 else f'{n} measurements'} per "
            f"side: one run cannot show its run-to-run spread; {need} more session"
            f"{'s' if need > 1 else ''} of each would decide {name}", need, "sessions",
            _t_interval(va, level), _t_interval(vb, level), threshold.at(ma), level,
            "repetitions")
    if np.ptp(va) == 0 and np.ptp(vb) == 0:
        diff = Interval(mb - ma, mb - ma, mb - ma, level, n, "t")
    else:
        with warnings.catch_warnings():  # near-identical values: scipy warns, the CI holds
            warnings.simplefilter("ignore", RuntimeWarning)
            ci = sps.ttest_ind(vb, va, equal_var=False).confidence_interval(level)
        diff = Interval(mb - ma, float(ci.low), float(ci.high), level, n, "welch t")
    fv = decide(name, unit, better, _t_interval(va, level), _t_interval(vb, level), diff,
                threshold, more_unit="sessions")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        p = float(sps.mannwhitneyu(va, vb, alternative="two-sided").pvalue)
    return FigureVerdict(**{**fv.__dict__, "reason": f"{fv.reason} (Mann–Whitney U p = "
                                                     f"{p:.3g} over {va.size}+{vb.size} "
                                                     "sessions)"})
