"""The run summary as a typed record, and the rows every view shows of it.

``console.core.stats.summarize`` computes a summary (a plain dict, so it goes
into the log's JSON column unchanged); :meth:`Summary.from_dict` types it once.
:func:`summary_sections` turns it into :class:`Section`\\ s of :class:`Row`\\ s
(label, value, unit, hint, the text it reads as): the **one** source of every
figure the terminal (``console.cli.format``), the window's summary panel and
the HTML report print. They only lay rows out; none computes or words a figure
itself, so they cannot disagree.

A figure the device did not provide reads "unavailable" with a hint why,
never 0. No IO and no Qt here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from console.core import protocol as P
from console.core.formatting import NA, fmt_num

#: percentile columns of the latency table, as the summary names them
LATENCY_COLUMNS = ("p50", "p90", "p95", "p99", "p99.9", "max")


@dataclass(frozen=True)
class LatencyStats:
    p50: float
    p90: float
    p95: float
    p99: float
    p99_9: float
    mean: float
    min: float
    max: float
    std: float

    @classmethod
    def from_dict(cls, d: Mapping[str, Any] | None) -> LatencyStats | None:
        if not d:
            return None
        return cls(*(float(d.get(k) or 0.0) for k in (
            "p50", "p90", "p95", "p99", "p99.9", "mean", "min", "max", "std")))

    def get(self, name: str) -> float:
        """By the summary's own key (``p99.9`` included)."""
        return float(getattr(self, name.replace(".", "_")))


@dataclass(frozen=True)
class ColdStartFigures:
    total: float | None
    package: float | None
    session: float | None
    first_infer: float | None


@dataclass(frozen=True)
class Summary:
    """A run's figures. ``raw`` keeps the dict as stored (exports write it whole)."""

    frames: int
    duration_s: float | None
    fps: float | None
    latency: Mapping[str, LatencyStats | None]
    read: LatencyStats | None
    cold_start: ColdStartFigures | None
    cpu: Mapping[str, float | None]
    memory: Mapping[str, float | None]
    thermal_max_c: float | None
    thermal_zones: Mapping[str, float]
    power: Mapping[str, Any] | None
    telemetry_samples: int
    sampler_cpu_mean: float | None
    accuracy_top1: float | None
    frames_scored: int | None
    agent_sent: int | None
    missing_frames: int | None
    budgets: tuple[Mapping[str, Any], ...]
    raw: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Summary:
        lat = d.get("latency_ms") or {}
        cold = d.get("cold_start_ms")
        th = d.get("thermal") or {}
        tel = d.get("telemetry") or {}
        acc = d.get("accuracy")
        return cls(
            frames=int(d.get("frames") or 0), duration_s=d.get("duration_s"), fps=d.get("fps"),
            latency={s: LatencyStats.from_dict(lat.get(s)) for s in P.STAGES},
            read=LatencyStats.from_dict(d.get(P.READ)),
            cold_start=ColdStartFigures(cold.get("total"), cold.get("package"),
                                        cold.get("session"), cold.get("first_infer"))
            if isinstance(cold, Mapping) else None,
            cpu=dict(d.get("cpu") or {}), memory=dict(d.get("memory") or {}),
            thermal_max_c=th.get("max_c"), thermal_zones=dict(th.get("zones") or {}),
            power=d.get("power") or None,
            telemetry_samples=int(tel.get("samples") or 0),
            sampler_cpu_mean=tel.get("sampler_cpu_mean"),
            accuracy_top1=acc.get("top1") if acc else None,
            frames_scored=acc.get("frames_scored") if acc else None,
            agent_sent=d.get("agent_sent"), missing_frames=d.get("missing_frames"),
            budgets=tuple(d.get("budgets") or ()), raw=dict(d))

    def stage(self, name: str) -> LatencyStats | None:
        return self.latency.get(name)

    @property
    def has_accuracy(self) -> bool:
        return "accuracy" in self.raw


@dataclass(frozen=True)
class Row:
    """One figure as every view shows it. ``text`` is ``value`` formatted with its unit
    (or "unavailable"); ``cells`` are the texts of a grid row (the latency table);
    ``tone`` is how a view may colour it: "", "good", "bad", "warn", "muted"."""

    label: str
    value: Any
    text: str
    unit: str = ""
    hint: str = ""
    cells: tuple[str, ...] = ()
    tone: str = ""


@dataclass(frozen=True)
class Section:
    """A group of rows: a grid when ``columns`` is set (each row has ``cells``)."""

    title: str
    rows: tuple[Row, ...]
    columns: tuple[str, ...] = ()


def _fig(label: str, value: Any, spec: str, unit: str = "", hint: str = "",
         sep: str = " ") -> Row:
    text = fmt_num(value, spec, f"{sep}{unit}" if unit and sep else unit)
    return Row(label, value, text, unit, hint if value is None else "",
               tone="muted" if value is None else "")


def _latency_section(s: Summary) -> Section:
    rows = []
    for stage in P.STAGES:
        st = s.stage(stage)
        cells = tuple(f"{st.get(c):.3f}" for c in LATENCY_COLUMNS) if st else ()
        rows.append(Row(stage, st, NA if st is None else cells[0], "ms", cells=cells,
                        tone="muted" if st is None else ""))
    if s.read is not None:  # decode/capture: outside e2e, so apart from the stages
        cells = tuple(f"{s.read.get(c):.3f}" for c in LATENCY_COLUMNS)
        rows.append(Row("read*", s.read, cells[0], "ms", "decode/capture, outside e2e",
                        cells=cells))
    return Section("latency (ms)", tuple(rows), LATENCY_COLUMNS)


def summary_sections(s: Summary) -> list[Section]:
    """Every figure of a run summary, in the order every view shows them."""
    run = [Row("frames", s.frames, str(s.frames)), _fig("fps", s.fps, ".1f"),
           _fig("duration", s.duration_s, ".2f", "s")]
    if s.missing_frames is not None:
        run.append(Row("missing", s.missing_frames, str(s.missing_frames),
                       hint="frames the agent sent that the log does not hold",
                       tone="bad" if s.missing_frames else ""))
    out = [Section("run", tuple(run)), _latency_section(s)]
    c = s.cold_start
    cold: tuple[Row, ...]
    if c is not None and c.total is not None:
        cold = (_fig("total", c.total, ".1f", "ms"), _fig("package", c.package, ".1f", "ms"),
                _fig("session", c.session, ".1f", "ms"),
                _fig("first inference", c.first_infer, ".1f", "ms"))
    else:
        cold = (Row("total", None, NA, "ms", "the agent reported no cold start",
                    tone="muted"),)
    out.append(Section("cold start", cold))
    out.append(Section("cpu", (
        _fig("system mean", s.cpu.get("sys_mean"), ".0f", "%", sep=""),
        _fig("system peak", s.cpu.get("sys_peak"), ".0f", "%", sep=""),
        _fig("agent mean", s.cpu.get("agent_mean"), ".0f", "%", sep=""),
        _fig("agent peak", s.cpu.get("agent_peak"), ".0f", "%", sep=""))))
    out.append(Section("memory", (
        _fig("agent RSS peak", s.memory.get("rss_peak_mb"), ".1f", "MiB"),
        _fig("system used peak", s.memory.get("mem_used_peak_mb"), ".0f", "MiB"))))
    if s.thermal_max_c is not None:
        temp = [_fig("max", s.thermal_max_c, ".1f", "°C")]
        temp += [_fig(str(k), v, ".1f", "°C") for k, v in sorted(s.thermal_zones.items())]
    else:
        temp = [Row("max", None, NA, "°C", "the device reports no thermal zones", tone="muted")]
    out.append(Section("temperature", tuple(temp)))
    pw = s.power
    if pw:
        prim = pw.get("primary")
        power = [_fig(f"{k} mean", v, ".2f", "W") for k, v in sorted(pw["mean_w"].items())]
        power.append(_fig("energy/inference", pw.get("energy_per_inference_mj"), ".3f", "mJ",
                          hint="no energy counter on the device")
                     if not prim else Row("energy/inference", pw.get(
                         "energy_per_inference_mj"), fmt_num(pw.get("energy_per_inference_mj"),
                                                             ".3f", " mJ") + f" ({prim})",
                         "mJ"))
    else:
        power = [Row("mean", None, NA, "W", "no power sensor on the device", tone="muted")]
    out.append(Section("power", tuple(power)))
    out.append(Section("telemetry", (
        Row("samples", s.telemetry_samples, str(s.telemetry_samples)),
        _fig("sampling cost", s.sampler_cpu_mean, ".2f", "% of a core", sep=""))))
    if s.has_accuracy:
        out.append(Section("accuracy", (
            _fig("top-1", s.accuracy_top1, ".4f",
                 hint="no frame had a ground-truth label"),
            Row("frames scored", s.frames_scored, str(s.frames_scored or 0),
                hint="frames with ground truth")),))
    if s.budgets:
        out.append(Section("budgets", tuple(budget_row(b) for b in s.budgets)))
    return out


def budget_row(b: Mapping[str, Any]) -> Row:
    verdict = str(b.get("verdict"))
    tone = {"pass": "good", "fail": "bad"}.get(verdict, "warn")
    value = b.get("value")
    lo, hi = b.get("low"), b.get("high")
    # the interval the verdict was made on (a single measurement's is the value itself;
    # a run too short for a confidence interval: the range of its frames, said so)
    what = "range " if b.get("method") == "range" else ""
    iv = f" [{what}{fmt_num(lo, '.3f')}, {fmt_num(hi, '.3f')}]" if isinstance(
        lo, (int, float)) and isinstance(hi, (int, float)) and lo != hi else ""
    reason = str(b.get("reason") or "")
    # a budget that did not pass says why where it is shown, not only in a tooltip
    why = f" ({reason})" if reason and verdict != "pass" and value is not None else ""
    return Row(str(b.get("budget")), value,
               f"{fmt_num(value, '.3f')}{iv} vs {float(b.get('limit') or 0):g}: "
               f"{verdict.upper()}{why}", tone=tone, hint=reason)


def headline(s: Summary | None) -> dict[str, float | None]:
    """The figures the log also keeps as real columns (``console.core.schema``)."""
    if s is None:
        return {}
    from console.core.schema import HEADLINE_PERCENTILES

    out: dict[str, float | None] = {}
    for stage in P.STAGES:
        st = s.stage(stage)
        for p in HEADLINE_PERCENTILES:
            out[f"{stage}_{p}_ms"] = st.get(p) if st else None
    out.update(fps=s.fps, duration_s=s.duration_s,
               cold_start_ms=s.cold_start.total if s.cold_start else None,
               accuracy_top1=s.accuracy_top1,
               cpu_agent_mean_pct_core=s.cpu.get("agent_mean"),
               cpu_sys_mean_pct=s.cpu.get("sys_mean"),
               rss_peak_mib=s.memory.get("rss_peak_mb"), temp_max_c=s.thermal_max_c,
               energy_per_inference_mj=(s.power or {}).get("energy_per_inference_mj"))
    return out
