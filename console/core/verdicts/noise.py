"""The run-to-run spread of a device, measured from identical sessions in the log.

Why. One session is one execution; what varies between executions but not
within one (thread placement, memory layout, a neighbour busy for the whole
run) no resampling of one session can see (Kalibera & Jones 2013,
"Rigorous benchmarking in reasonable time", ISMM). Without a measurement the
console assumes :data:`~console.core.verdicts.figures.RUN_NOISE`, the spread
of the shared, loaded 2-core lab VMs (±20 % at the median) — safe, but far
wider than a quiet device's (±1.3 % for the bundled detector on an idle VM
with one thread, docs/benchmarks.md), so a single pair of sessions there can
never show a +30 % slowdown. Kalibera & Jones's remedy is to *dimension*
each platform: measure the spread once, from repeated identical runs, and
use it. The log already holds such runs (a plan's repeats, a nightly
matrix, a sweep's rounds, the same ``devicelab run`` done again), so the
console measures it there.

How. *Identical* sessions ran on the same device (its identity: machine id,
host key), with the same package digest, the same input sha256 and the same
settings (:func:`settings_key`). For each figure, the spread is the pooled
standard deviation of the log of the sessions' steady-state summaries within
each configuration (A's and B's, when they differ; each configuration's own
mean removed), with ``sum(k - 1)`` degrees of freedom — the one-way ANOVA
within-group estimate. A single A against a single B then has the
interval ``log(b / a) ± c * s * sqrt(2)``, at a level that holds for every
figure at once — a comparison is a regression when *any* of its ~29 figures
is, and that overall verdict is what ``--fail-on-regression`` acts on
(measured: per-figure 95 % intervals called 2 of 10 identical detector pairs
regressions, on pre p99 and read p99). ``c`` is Student's t for the
spread's degrees of freedom (the spread is itself estimated) at the
Bonferroni level over the figures measured (at least :data:`MIN_DF` degrees
of freedom, i.e. 5 identical sessions of one side).
A summary is a whole session's figure, so the spread between summaries
holds the sampling error within a session as well as the run-to-run part:
the block bootstrap's own interval, still added in quadrature where a
session is long enough for one, counts the sampling part twice — on the
safe side. A session too short for a bootstrap (under 10 windows) is
decided by the measured spread alone, which is valid for sessions as long
as the identical ones (same settings, so same frame count).

Assumed: the candidate's relative spread is the reference's when only the
reference has identical sessions (same device; a model's run-to-run factor
is the device's); two different devices are never dimensioned by each
other's sessions (the assumed allowance stays).

Qt-free; numpy + scipy.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy import stats as sps

#: Fewest degrees of freedom of a measured spread (5 identical sessions of one side):
#: with fewer, Student's factor (t(3) = 3.18 at 95 %) makes the interval wider than the
#: assumed allowance would on most devices anyway.
MIN_DF = 4
#: Most identical sessions used per configuration, the nearest in time to the session
#: compared (a device's spread drifts over months: a new kernel, a new fan).
MOST_SESSIONS = 30
#: Settings that do not change what runs (the file's name: its sha256 is compared;
#: budgets and ground truth are judged by the console after the run).
_NOT_RUN_SETTINGS = ("input", "truth", "budgets")

#: A summary figure's path -> the run-noise key it measures (``figures._noise`` looks up
#: ``"<stage> <kind>"`` first, then ``"<kind>"``).
_LAT = ("p50", "p90", "p95", "p99", "mean")


def _paths() -> list[tuple[tuple[str, ...], str]]:
    out: list[tuple[tuple[str, ...], str]] = []
    for stage in ("pre", "infer", "post", "e2e"):
        out += [(("latency_ms", stage, p), f"{stage} {p}") for p in _LAT]
    out += [(("read_ms", p), f"read {p}") for p in _LAT]
    out += [(("fps",), "fps"), (("cpu", "agent_mean"), "cpu"), (("cpu", "sys_mean"), "cpu"),
            (("memory", "rss_mean_mb"), "memory"), (("thermal", "mean_c"), "temperature"),
            (("power", "mean_w"), "power")]
    return out


PATHS = _paths()


class MeasuredNoise(dict[str, float]):
    """Run-noise allowances (relative SD per figure key, as
    :data:`~console.core.verdicts.figures.RUN_NOISE`, already scaled by the critical value)
    where ``raw`` — the spread itself, relative SD on the log scale, per key — was measured
    from identical sessions; ``measured`` names those keys (the rest are the assumed
    defaults)."""

    def __init__(self, values: Mapping[str, float], raw: Mapping[str, float], *,
                 sessions: int, df: int, sessions_a: Sequence[int] = (),
                 sessions_b: Sequence[int] = (), critical: float = math.nan,
                 method: str = ""):
        super().__init__(values)
        self.raw = dict(raw)
        self.measured = frozenset(self.raw)
        #: the half-width of a figure's interval in units of its spread, and how it was had
        self.critical = critical
        self.method = method
        self.sessions = sessions
        self.df = df
        self.sessions_a = list(sessions_a)
        self.sessions_b = list(sessions_b)

    def describe(self) -> dict[str, Any]:
        return {"source": "measured", "sessions": self.sessions, "df": self.df,
                "critical": round(self.critical, 3), "method": self.method,
                "sessions_a": self.sessions_a, "sessions_b": self.sessions_b,
                "spread": {k: round(v, 5) for k, v in sorted(self.raw.items())}}


def settings_key(settings: Mapping[str, Any] | None) -> str:
    """What of a session's settings decides what ran, as one comparable string."""
    s = {k: v for k, v in (settings or {}).items() if k not in _NOT_RUN_SETTINGS}
    return json.dumps(s, sort_keys=True, default=str)


def identity_key(row: Mapping[str, Any]) -> tuple[str, str, str, str]:
    """(device, package digest, input sha256, settings): equal for identical sessions."""
    dev = row.get("device_identity") or {"name": row.get("device_name"),
                                          "address": row.get("device_address")}
    return (json.dumps(dev, sort_keys=True, default=str), str(row.get("package_digest")),
            str(row.get("input_sha256")), settings_key(row.get("settings")))


def same_device(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return identity_key(a)[0] == identity_key(b)[0]


def _value(summary: Mapping[str, Any] | None, path: Sequence[str]) -> float | None:
    cur: Any = summary or {}
    for p in path:
        if not isinstance(cur, Mapping):
            return None
        cur = cur.get(p)
    if isinstance(cur, (int, float)) and math.isfinite(cur) and cur > 0:
        return float(cur)
    return None


def _matrix(group: Sequence[Mapping[str, Any]]) -> np.ndarray:
    """Sessions × :data:`PATHS`: the log of each figure, NaN where not measured."""
    return np.log(np.array([[_value(r.get("summary"), p) or math.nan for p, _k in PATHS]
                            for r in group], dtype=np.float64).reshape(len(group), len(PATHS)))


def _pooled(mats: Sequence[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Per path: pooled within-group SD of the logs and its degrees of freedom."""
    ss = np.zeros(len(PATHS))
    df = np.zeros(len(PATHS), dtype=np.int64)
    for m in mats:
        n = np.sum(np.isfinite(m), axis=0)
        ok = n >= 2
        if not ok.any():
            continue
        with np.errstate(invalid="ignore"):
            mean = np.nanmean(np.where(ok, m, 0.0), axis=0)
        ss += np.where(ok, np.nansum((m - mean) ** 2, axis=0), 0.0)
        df += np.where(ok, n - 1, 0)
    with np.errstate(invalid="ignore", divide="ignore"):
        sd = np.where(df > 0, np.sqrt(ss / np.maximum(df, 1)), math.nan)
    return sd, df


def _per_key(sd: np.ndarray, df: np.ndarray, use: np.ndarray
             ) -> dict[str, tuple[float, int]]:
    """Per run-noise key, of the ``use``d paths: (SD, df); a key several paths measure
    (agent and system CPU) takes the larger spread."""
    out: dict[str, tuple[float, int]] = {}
    for j, (_p, key) in enumerate(PATHS):
        if use[j] and (key not in out or sd[j] > out[key][0]):
            out[key] = (float(sd[j]), int(df[j]))
    return out


def pooled_spread(groups: Sequence[Sequence[Mapping[str, Any]]]
                  ) -> dict[str, tuple[float, int]]:
    """Per run-noise key: (pooled SD of log figure within groups, degrees of freedom),
    from each group's sessions' summaries (session rows)."""
    sd, df = _pooled([_matrix(g) for g in groups if g])
    return _per_key(sd, df, df > 0)


def simultaneous_level(level: float, figures: int) -> float:
    """Bonferroni: each of ``figures`` intervals at ``1 - (1 - level) / figures``, so that
    all hold together at ``level`` — the overall verdict is a regression when *any*
    figure is, and 29 figures at 95 % each would miss somewhere in most A/A pairs
    (measured: 2 of 10 A/A pairs of the detector called regressions on pre p99 and
    read p99 with per-figure 95 % intervals from a measured spread)."""
    return 1.0 - (1.0 - level) / max(figures, 1)


def measured_noise(groups: Sequence[Sequence[Mapping[str, Any]]], defaults: Mapping[str, float],
                   level: float, sessions_a: Sequence[int] = (), sessions_b: Sequence[int] = ()
                   ) -> MeasuredNoise | None:
    """The allowances for a comparison from identical sessions' summaries (``groups``:
    A's and B's identical sessions, without A and B), None when no figure reaches
    :data:`MIN_DF`. Each measured figure's half-width on the log scale is ``c * s``, ``c``
    Student's t for the spread's degrees of freedom at the Bonferroni level over the
    figures measured (:func:`simultaneous_level`). A key is given as the relative SD whose
    log-normal half-width at the normal quantile is that (what
    :func:`~console.core.verdicts.blocks.widen_relative` applies).

    Why not a resampled critical value (the max statistic of Westfall & Young 1993, from
    the pairs of identical sessions): tried and measured — one odd session among the 30
    nearest (an agent-memory or read-time outlier) raised it for *every* figure from 3.5
    to 5.4 and single-pair detection of the +30 % detector fell from 20/20 to 14/20, and
    the tail quantile it needs (~0.2 % per figure) is out of reach of 30 sessions."""
    mats = [_matrix(g) for g in groups if g]
    if not mats:
        return None
    sd, df = _pooled(mats)
    use = (df >= MIN_DF) & np.isfinite(sd)
    if not use.any():
        return None
    z = float(sps.norm.ppf(0.5 + level / 2))
    dfmin = int(df[use].min())
    figures = int(use.sum())
    c = float(sps.t.ppf(0.5 + simultaneous_level(level, figures) / 2, dfmin))
    raw = {key: s_ for key, (s_, _d) in _per_key(sd, df, use).items()}
    values = dict(defaults)
    for key, s_ in raw.items():
        half = c * s_ / z
        values[key] = math.sqrt(math.expm1(half * half))
    return MeasuredNoise(values, raw, sessions=sum(len(m) for m in mats), df=int(df[use].max()),
                         sessions_a=sessions_a, sessions_b=sessions_b, critical=c,
                         method=f"Bonferroni over {figures} figures, Student's t({dfmin})")
