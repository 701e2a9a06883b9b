"""Compare two recorded sessions: what differs, what got slower, do they still agree.

:func:`compare_sessions` reads two sessions from the log and returns a
:class:`Comparison`:

* **differences** in device, package, input, settings and versions — the
  context a reader needs before believing any figure;
* one :class:`Figure` per measured quantity — per-stage p50/p90/p95/p99 and
  mean, the frame read when recorded, FPS, cold start, CPU, memory,
  temperature, power, accuracy — each with A's and B's estimate and
  interval, the difference B - A with its confidence interval (default
  95 %), and a verdict: ``regression``, ``improvement``, ``no change`` or
  ``inconclusive`` (the rules, methods and references are in
  :mod:`console.core.verdicts` and docs/sessions.md). A change counts only
  when its whole interval lies beyond the practical threshold (default 5 %
  of A or 0.05 ms, whichever is larger): a real but negligible difference is
  ``no change``, an interval too wide to tell is ``inconclusive`` with how
  many more frames would decide;
* **output agreement**, only when both sessions ran the same recording
  (same input sha256; frames matched by index, each recorded frame counted
  once): top-1 agreement with its Wilson interval, a confusion table and
  the score differences for classifiers; IoU-matched boxes, the recall of
  A's boxes with its interval and the mean IoU for detectors.

Steady state only: each session's warm-up (``summary["warmup"]``, see
:mod:`console.core.stats`) is left out of every steady-state figure; cold
start is compared on its own. A is the reference, B the candidate:
"regression" always means B is worse. :attr:`Comparison.verdict` is the
worst figure's verdict, ``inconclusive`` only when no figure could be
decided. Pure functions over a :class:`LogStore`; safe from a worker
thread.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from console.core import protocol as P
from console.core.errors import UserError
from console.core.stats import (
    STAGES,
    TELEMETRY_MEANS,
    SessionData,
    steady_data,
    summary_value,
)
from console.core.store import LogStore
from console.core.verdicts import (
    ABSOLUTE_FLOORS,
    DEFAULT_LEVEL,
    DEFAULT_RELATIVE,
    INCONCLUSIVE,
    MATCH_IOU,
    REGRESSION,
    FigureVerdict,
    Threshold,
    box_iou,
    compare_repeated,
    contention,
    decide,
    floor_verdict,
    latency_figures,
    match_boxes,
    mean_figure,
    overall_of_groups,
    proportion_difference,
    proportion_interval,
    rate_figure,
    threshold_for,
)
from console.session.agreement import Agreement, agreement
from console.session.identical import spread_for, spread_text

__all__ = [
    "DEFAULT_LEVEL",
    "DEFAULT_TOLERANCE",
    "NOISE_FLOORS",
    "Agreement",
    "CompareError",
    "Comparison",
    "Difference",
    "Figure",
    "SessionData",
    "SessionHead",
    "box_iou",
    "compare_data",
    "compare_groups",
    "compare_sessions",
    "load_data",
    "match_boxes",
    "parse_tolerance",
]

#: The relative part of the practical threshold (``--tolerance``).
DEFAULT_TOLERANCE = DEFAULT_RELATIVE
#: The absolute part, per unit (``ms``: 0.05 ms, ...): see console.core.verdicts.rules.
NOISE_FLOORS: dict[str, float] = dict(ABSOLUTE_FLOORS)
#: Accuracy counts in points, not relative: 1 point (0.01) is the smallest change that
#: matters (5 % of 0.98 would let 4.9 points go by as negligible).
ACCURACY_POINTS = 0.01


class CompareError(UserError):
    """The comparison cannot be made; one line naming the session."""


def parse_tolerance(text: str) -> float:
    """``5%`` or ``0.05`` -> 0.05. Raises ``ValueError`` with a one-line reason."""
    t = text.strip()
    try:
        v = float(t[:-1]) / 100.0 if t.endswith("%") else float(t)
    except ValueError:
        raise ValueError(f"bad tolerance {text!r}: use a percentage like 5% or a fraction "
                         "like 0.05") from None
    if not math.isfinite(v) or v < 0 or v >= 10:
        raise ValueError(f"tolerance {text!r} out of range: use 0%..999%")
    return v


@dataclass(frozen=True)
class SessionHead:
    id: int
    uuid: str
    title: str  # package name@version
    device: str
    input: str
    status: str
    frames: int
    started_at: float | None
    #: leading frames left out of the steady-state figures, and their span in seconds
    warmup_frames: int = 0
    warmup_s: float = 0.0


@dataclass(frozen=True)
class Difference:
    section: str  # device | package | input | settings | versions
    field: str
    a: Any
    b: Any


@dataclass(frozen=True)
class Figure:
    """One compared quantity (see the module docstring).

    ``diff`` = B - A in ``unit``; ``ci_low``/``ci_high`` bound it; ``a_low``/``a_high``
    and ``b_low``/``b_high`` are each session's own interval (error bars on plots).
    ``text`` is the one-line rendering, ``"<change> — <verdict>: <reason>"``.
    """

    name: str
    group: str  # latency | throughput | cold_start | resources | accuracy | agreement
    unit: str
    a: float | None
    b: float | None
    better: str  # "lower" | "higher"
    diff: float | None
    diff_rel: float | None
    ci_low: float | None
    ci_high: float | None
    verdict: str  # regression | improvement | no change | inconclusive
    reason: str
    text: str
    a_low: float | None = None
    a_high: float | None = None
    b_low: float | None = None
    b_high: float | None = None
    more_needed: int | None = None
    more_unit: str = "frames"
    threshold: float | None = None
    level: float = DEFAULT_LEVEL
    method: str = ""
    #: how much longer each session would run to gather ``more_needed`` frames or samples
    more_seconds: float | None = None

    @property
    def change(self) -> float | None:
        """Relative change (B - A) / |A| (older name of ``diff_rel``)."""
        return self.diff_rel

    @property
    def brief(self) -> str:
        """``e2e p95 +13.9 % [-7.8, +26.1]: inconclusive`` — the figure, its change with
        the interval and the verdict, without the reason (for lists of figures)."""
        chg, sep, _rest = self.text.partition(" — ")
        if not sep:
            return f"{self.name} {self.text}"
        if self.group == "agreement":
            chg = f"{fmt_value(self.b, self.unit)} [{fmt_value(self.ci_low, self.unit)}, " \
                  f"{fmt_value(self.ci_high, self.unit)}]" if self.ci_low is not None else chg
        return f"{self.name} {chg}: {self.verdict}"

    @property
    def line(self) -> str:
        if self.group == "agreement":  # a property of the pair, not of A and B
            return f"{self.name}: {fmt_value(self.b, self.unit)}  {self.text}"
        return f"{self.name}: {fmt_value(self.a, self.unit)} → {fmt_value(self.b, self.unit)}" \
               f"  {self.text}"


@dataclass(frozen=True)
class Comparison:
    a: SessionHead
    b: SessionHead
    tolerance: float
    differences: list[Difference]
    figures: list[Figure]
    agreement: Agreement
    level: float = DEFAULT_LEVEL
    #: every session of each side when repeated sessions were compared (compare_groups)
    sessions_a: list[int] = field(default_factory=list)
    sessions_b: list[int] = field(default_factory=list)
    #: cores busy with other work than the agent, A and B (``verdicts.contention``;
    #: None: not known); figures it moves are held back when they differ
    other_work_cores: tuple[float | None, float | None] = (None, None)
    #: where the run-to-run allowance came from: ``source`` ``measured`` (identical
    #: sessions in the log, ``session.identical``), ``assumed`` (``RUN_NOISE``, with
    #: ``why``), ``given`` (the caller's) or ``repetitions`` (compare_groups)
    run_noise: dict[str, Any] = field(default_factory=dict)

    #: the figures a one-line account of a comparison names (plan baselines)
    HEADLINE = ("e2e p50", "e2e p95", "e2e p99", "fps", "top-1 agreement")

    def headline(self) -> list[Figure]:
        return [f for f in self.figures if f.name in self.HEADLINE]

    @property
    def regressions(self) -> list[Figure]:
        return [f for f in self.figures if f.verdict == REGRESSION]

    @property
    def counted(self) -> list[Figure]:
        """The figures the overall verdict is made of (see ``verdicts.counts_overall``)."""
        return [f for f in self.figures if not (f.a is None and f.b is None)
                and not (f.method == "repetitions" and f.more_unit == "sessions")]

    @property
    def verdict(self) -> str:
        """Over quantities (a stage's percentiles and mean are one; every other figure is
        its own): regression, else improvement, else inconclusive if a quantity could not
        be decided at all, else no change (``verdicts.overall_of_groups``)."""
        groups: dict[str, list[str]] = {}
        for f in self.counted:
            key = f.name.split()[0] if f.group == "latency" else f.name
            groups.setdefault(key, []).append(f.verdict)
        return overall_of_groups(list(groups.values()))

    def verdict_line(self) -> str:
        line = self._verdict_line()
        wa, wb = self.other_work_cores
        if wa is not None and wb is not None and contention.differs(wa, wb):
            line += "; " + contention.advice(wa, wb)
        return line

    def spread_line(self) -> str:
        """Where the run-to-run part of every interval came from, in one line."""
        return spread_text(self.run_noise)

    def _verdict_line(self) -> str:
        v = self.verdict
        lvl = f"{self.level * 100:g} %"
        undecided = [f for f in self.counted if f.verdict == INCONCLUSIVE]
        tail = (f"; {len(undecided)} figure{'s' if len(undecided) != 1 else ''} inconclusive"
                if undecided and v != INCONCLUSIVE else "")
        if v in (REGRESSION, "improvement"):
            figs = [f for f in self.figures if f.verdict == v]
            names = ", ".join(f.name for f in figs[:6])
            more = f" and {len(figs) - 6} more" if len(figs) > 6 else ""
            return (f"{v}: {len(figs)} figure{'s' if len(figs) > 1 else ''} beyond the "
                    f"threshold at {lvl} confidence: {names}{more}{tail}")
        if v == "no change":
            return (f"no change: every measured quantity within the threshold at {lvl} "
                    f"confidence (session {self.b.id} vs {self.a.id}){tail}")
        names = ", ".join(f.name for f in undecided[:4])
        more = f" and {len(undecided) - 4} more" if len(undecided) > 4 else ""
        return (f"inconclusive: no regression or improvement found, but {len(undecided)} "
                f"figure{'s' if len(undecided) != 1 else ''} could not be decided ({names}"
                f"{more}); each says what would decide it")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["regressions"] = [f.name for f in self.regressions]
        d["verdict"] = self.verdict
        d["verdict_line"] = self.verdict_line()
        d["format"] = "devicelab-comparison/2"
        return d


def fmt_value(v: float | None, unit: str) -> str:
    if v is None:
        return "unavailable"
    if unit == "ms":
        return f"{v:.3f} ms"
    if unit == "fps":
        return f"{v:.1f} fps"
    if unit == "%":
        return f"{v:.1f} %"
    if unit == "ratio":
        return f"{v * 100:.1f} %"
    if unit in ("MiB", "°C", "W"):
        return f"{v:.1f} {unit}"
    if unit == "mJ":
        return f"{v:.3f} mJ"
    return f"{v:g}"


def _pct(x: float) -> str:
    return "±0.0 %" if x == 0 else f"{x * 100:+.1f} %"


def change_text(fv: FigureVerdict) -> str:
    """``+18.0 % [+12.1, +24.0]`` (relative change with its interval; ``[range …]`` when
    the pair was too short for one); ``""`` when there is no A to be relative to."""
    if fv.diff is None or fv.a is None:
        return ""
    if fv.a == 0:
        return "±0.0 %" if fv.diff == 0 else f"{fv.diff:+.3g} {fv.unit}"
    if fv.ci_low is None or fv.ci_high is None or not (
            math.isfinite(fv.ci_low) and math.isfinite(fv.ci_high)):
        return _pct(fv.diff_rel or 0.0)
    a = abs(fv.a)
    # a pair too short for a confidence interval carries the range its frames span (no
    # confidence attached): say so rather than pass it off as the 95 % interval
    what = "range " if fv.method == "range" else ""
    return (f"{_pct(fv.diff_rel or 0.0)} [{what}{fv.ci_low / a * 100:+.1f}, "
            f"{fv.ci_high / a * 100:+.1f}]")


def _figure(fv: FigureVerdict, group: str) -> Figure:
    chg, why = change_text(fv), fv.reason
    if group == "agreement" and "; " in why:  # "360/360 frames agree; at 95 % …"
        chg, why = why.split("; ", 1)
    text = f"{chg} — {fv.verdict}: {why}" if chg else f"{fv.verdict}: {why}"
    if fv.reason.startswith("unavailable"):
        text = f"unavailable ({fv.reason.split(': ', 1)[-1]})"
    ac, bc = fv.a_ci, fv.b_ci
    return Figure(fv.name, group, fv.unit, fv.a, fv.b, fv.better, fv.diff, fv.diff_rel,
                  fv.ci_low, fv.ci_high, fv.verdict, fv.reason, text,
                  ac.low if ac else None, ac.high if ac else None,
                  bc.low if bc else None, bc.high if bc else None,
                  fv.more_needed, fv.more_unit, fv.threshold, fv.level, fv.method,
                  fv.more_seconds)


def _head(s: Mapping[str, Any], d: SessionData | None = None) -> SessionHead:
    return SessionHead(
        id=int(s["id"]), uuid=str(s["uuid"]),
        title=f"{s.get('package_name')}@{s.get('package_version')}",
        device=str(s.get("device_name") or s.get("device_address") or "?"),
        input=str(s.get("input_desc") or "?"), status=str(s.get("status")),
        frames=int(s.get("frames_received") or 0), started_at=s.get("started_at"),
        warmup_frames=d.warmup_frames if d else 0, warmup_s=d.warmup_s if d else 0.0)


def _device_view(s: Mapping[str, Any]) -> dict[str, Any]:
    f = s.get("device_facts") or {}
    libs = f.get("libraries") or {}
    return {"name": s.get("device_name"), "address": s.get("device_address"),
            "board": f.get("board"), "cpu": f.get("cpu_model"), "cores": f.get("cores"),
            "os": f.get("os"), "kernel": f.get("kernel"), "arch": f.get("arch"),
            "python": f.get("python"), "numpy": libs.get("numpy"),
            "onnxruntime": libs.get("onnxruntime"), "opencv": libs.get("opencv"),
            "provider": s.get("provider")}


def differences(a: Mapping[str, Any], b: Mapping[str, Any]) -> list[Difference]:
    """Every recorded fact that differs between two session rows."""
    out: list[Difference] = []

    def cmp(section: str, da: Mapping[str, Any], db: Mapping[str, Any]) -> None:
        for k in list(dict.fromkeys([*da, *db])):
            va, vb = da.get(k), db.get(k)
            if va != vb:
                out.append(Difference(section, k, va, vb))

    cmp("device", _device_view(a), _device_view(b))
    cmp("package", {k: a.get(f"package_{k}") for k in ("name", "version", "digest",
                                                       "model_sha256")},
        {k: b.get(f"package_{k}") for k in ("name", "version", "digest", "model_sha256")})
    cmp("input", {"kind": a.get("input_kind"), "desc": a.get("input_desc"),
                  "sha256": a.get("input_sha256")},
        {"kind": b.get("input_kind"), "desc": b.get("input_desc"),
         "sha256": b.get("input_sha256")})
    sa = {k: v for k, v in (a.get("settings") or {}).items() if k != "input"}
    sb = {k: v for k, v in (b.get("settings") or {}).items() if k != "input"}
    cmp("settings", sa, sb)
    cmp("versions", {"console": a.get("console_version"), "agent": a.get("agent_version"),
                     "protocol": a.get("protocol_version")},
        {"console": b.get("console_version"), "agent": b.get("agent_version"),
         "protocol": b.get("protocol_version")})
    return out


def load_data(store: LogStore, row: Mapping[str, Any]) -> SessionData:
    sid = int(row["id"])
    cols = {c: store.frame_column(sid, c) for c in ("ts", *STAGES, P.READ)}
    keys = [k for k, _n, _u, _k in TELEMETRY_MEANS]
    return steady_data(cols, store.telemetry(sid, keys=keys), row.get("summary") or {})


# -- figures ---------------------------------------------------------------------------
def compare_data(da: SessionData, db: SessionData, *, tolerance: float = DEFAULT_TOLERANCE,
                 floors: Mapping[str, float] | None = None, level: float = DEFAULT_LEVEL,
                 run_noise: Mapping[str, float] | None = None,
                 tel_rates: tuple[float | None, float | None] = (None, None)) -> list[Figure]:
    """Every compared figure of two sessions' data (A reference, B candidate);
    ``tel_rates``: each session's telemetry samples per second, when recorded."""
    fl = {**NOISE_FLOORS, **(floors or {})}

    def thr(unit: str) -> Any:
        return threshold_for(unit, tolerance, fl)

    out: list[Figure] = []
    for stage in (*STAGES, P.READ):
        if stage == P.READ and P.READ not in da.stages and P.READ not in db.stages:
            continue  # sessions before the read time was recorded
        name = "read" if stage == P.READ else stage
        empty = np.zeros(0)
        for fv in latency_figures(name, da.ts, da.stages.get(stage, empty), db.ts,
                                  db.stages.get(stage, empty), thr("ms"), level,
                                  run_noise=run_noise):
            out.append(_figure(fv, "latency"))
    out.append(_figure(rate_figure("fps", da.ts, db.ts, thr("fps"), level, run_noise),
                       "throughput"))
    out.append(_figure(_single("cold start", "ms", da.cold_ms, db.cold_ms, thr("ms"), level),
                       "cold_start"))
    for key, name, unit, kind in TELEMETRY_MEANS:
        va, vb = da.telemetry.get(key), db.telemetry.get(key)
        if key in (P.THERMAL, P.POWER) and not (_any(va) or _any(vb)):
            continue  # neither device has the sensor: the single figures below say so
        out.append(_figure(mean_figure(name, unit, da.tel_ts, va if va is not None else [],
                                       db.tel_ts, vb if vb is not None else [], thr(unit),
                                       level, run_noise=run_noise, kind=kind,
                                       rates=tel_rates), "resources"))
    out.append(_figure(_single("agent memory peak", "MiB", da.rss_peak_mb, db.rss_peak_mb,
                               thr("MiB"), level), "resources"))
    out.append(_figure(_single("max temperature", "°C", da.temp_max_c, db.temp_max_c,
                               thr("°C"), level), "resources"))
    out.append(_figure(_single("energy per inference", "mJ", da.energy_mj, db.energy_mj,
                               thr("mJ"), level), "resources"))
    if da.accuracy or db.accuracy:
        nc = proportion_difference(da.accuracy, db.accuracy, level) \
            if da.accuracy and db.accuracy else None
        acc_thr = Threshold(0.0, fl.get("ratio", ACCURACY_POINTS))
        fv = decide("accuracy top-1", "ratio", "higher", nc[0] if nc else None,
                    nc[1] if nc else None, nc[2] if nc else None, acc_thr,
                    more_unit="scored frames")
        out.append(_figure(fv, "accuracy"))
    return out


def _any(v: np.ndarray | None) -> bool:
    return v is not None and bool(np.isfinite(v).any())


def _single(name: str, unit: str, a: float | None, b: float | None, threshold: Any,
            level: float) -> FigureVerdict:
    """A figure measured once per session: decided only over repeated sessions."""
    return compare_repeated(name, unit, "lower", [] if a is None else [a],
                            [] if b is None else [b], threshold, level)


def _agreement_figures(ag: Agreement, tol: float, level: float) -> list[Figure]:
    out = []
    if ag.top1_agree is not None and ag.frames_compared:
        iv = proportion_interval(ag.top1_agree, ag.frames_compared, level)
        out.append(_figure(floor_verdict("top-1 agreement", iv, tol), "agreement"))
    if ag.boxes_a is not None and (ag.boxes_a or ag.boxes_b):
        rec = proportion_interval(ag.boxes_matched or 0, ag.boxes_a or 0, level)
        fv = floor_verdict("box recall", rec, tol,
                           what=f"of A's boxes found by B (IoU ≥ {MATCH_IOU:g}, same class)")
        out.append(_figure(fv, "agreement"))
    return out


def _tel_rate(row: Mapping[str, Any]) -> float | None:
    """Telemetry samples per second the session asked for (``--telemetry-ms``)."""
    ms = (row.get("settings") or {}).get("telemetry_ms")
    return 1000.0 / float(ms) if isinstance(ms, (int, float)) and ms > 0 else None


def compare_sessions(store: LogStore, ref_a: int | str, ref_b: int | str, *,
                     tolerance: float = DEFAULT_TOLERANCE,
                     floors: Mapping[str, float] | None = None,
                     level: float = DEFAULT_LEVEL,
                     run_noise: Mapping[str, float] | None = None) -> Comparison:
    """Compare session B (candidate) against A (reference)."""
    rows = []
    for ref in (ref_a, ref_b):
        s = store.find_session(str(ref))
        if s is None:
            raise CompareError(f"no session {ref!r} in {store.where}")
        rows.append(s)
    a, b = rows
    for s in rows:
        if not s.get("summary"):
            raise CompareError(f"session {s['id']} has no summary yet ({s.get('status')}); "
                               "compare it when it has ended")
    da, db = load_data(store, a), load_data(store, b)
    ag = agreement(store, a, b, level)
    if run_noise is None:
        run_noise, spread = spread_for(store, a, b, level)
    else:
        spread = {"source": "given"}
    figs = compare_data(da, db, tolerance=tolerance, floors=floors, level=level,
                        run_noise=run_noise, tel_rates=(_tel_rate(a), _tel_rate(b))) \
        + _agreement_figures(ag, tolerance, level)
    work = (contention.other_work_of(da.telemetry, _cores(a)),
            contention.other_work_of(db.telemetry, _cores(b)))
    return Comparison(_head(a, da), _head(b, db), tolerance, differences(a, b),
                      held_back(figs, *work), ag, level, other_work_cores=work,
                      run_noise=spread)


def _cores(row: Mapping[str, Any]) -> Any:
    return (row.get("device_facts") or {}).get("cores")


def held_back(figs: list[Figure], work_a: float | None, work_b: float | None
              ) -> list[Figure]:
    """``figs`` with every figure the device's other work moves made ``inconclusive``
    when the two sessions' other work differed (``verdicts.contention``)."""
    if work_a is None or work_b is None or not contention.differs(work_a, work_b):
        return figs
    why = contention.figure_reason(work_a, work_b)
    out = []
    for f in figs:
        if not contention.affected(f.name, f.group) or f.verdict == INCONCLUSIVE \
                or (f.a is None and f.b is None):
            out.append(f)
            continue
        chg = f.text.partition(" — ")[0]
        out.append(replace(f, verdict=INCONCLUSIVE, reason=why,
                           text=f"{chg} — {INCONCLUSIVE}: {why}", more_needed=None,
                           more_seconds=None))
    return out


#: Figures of a summary compared over repeated sessions: (name, group, unit, better, path).
_SUMMARY_FIGURES = (
    *((f"{st} {p}", "latency", "ms", "lower", ("latency_ms", st, p))
      for st in STAGES for p in ("p50", "p90", "p95", "p99", "mean")),
    *((f"read {p}", "latency", "ms", "lower", (P.READ, p))
      for p in ("p50", "p90", "p95", "p99", "mean")),
    ("fps", "throughput", "fps", "higher", ("fps",)),
    ("cold start", "cold_start", "ms", "lower", ("cold_start_ms", "total")),
    ("agent cpu mean", "resources", "%", "lower", ("cpu", "agent_mean")),
    ("system cpu mean", "resources", "%", "lower", ("cpu", "sys_mean")),
    ("agent memory mean", "resources", "MiB", "lower", ("memory", "rss_mean_mb")),
    ("agent memory peak", "resources", "MiB", "lower", ("memory", "rss_peak_mb")),
    ("max temperature", "resources", "°C", "lower", ("thermal", "max_c")),
    ("energy per inference", "resources", "mJ", "lower", ("power", "energy_per_inference_mj")),
    ("accuracy top-1", "accuracy", "ratio", "higher", ("accuracy", "top1")),
)


def compare_groups(store: LogStore, refs_a: Sequence[int | str],
                   refs_b: Sequence[int | str], *, tolerance: float = DEFAULT_TOLERANCE,
                   floors: Mapping[str, float] | None = None,
                   level: float = DEFAULT_LEVEL) -> Comparison:
    """Repeated sessions of A against repeated sessions of B (same package, device and
    input run several times): each figure is each session's own steady-state estimate
    (its summary), decided over sessions by Welch's interval
    (:func:`console.core.verdicts.compare_repeated`), so the run-to-run noise is measured
    rather than assumed. Agreement and differences are those of the first pair."""
    fl = {**NOISE_FLOORS, **(floors or {})}
    groups = []
    for refs in (refs_a, refs_b):
        rows = []
        for ref in refs:
            s = store.find_session(str(ref))
            if s is None:
                raise CompareError(f"no session {ref!r} in {store.where}")
            if not s.get("summary"):
                raise CompareError(f"session {s['id']} has no summary yet ({s.get('status')})")
            rows.append(s)
        groups.append(rows)
    ga, gb = groups
    figs = []
    for name, group, unit, better, path in _SUMMARY_FIGURES:
        va = [v for v in (summary_value(r["summary"], *path) for r in ga) if v is not None]
        vb = [v for v in (summary_value(r["summary"], *path) for r in gb) if v is not None]
        if name.startswith("read") and not (va or vb):
            continue
        thr = threshold_for(unit, tolerance, fl)
        figs.append(_figure(compare_repeated(name, unit, better, va, vb, thr, level), group))
    ag = agreement(store, ga[0], gb[0], level)
    figs += _agreement_figures(ag, tolerance, level)
    return Comparison(_head(ga[0]), _head(gb[0]), tolerance, differences(ga[0], gb[0]), figs,
                      ag, level, [int(r["id"]) for r in ga], [int(r["id"]) for r in gb],
                      run_noise={"source": "repetitions"})
