"""Compare two recorded sessions: what differs, what got slower, do they still agree.

:func:`compare_sessions` reads two sessions from the log and returns a
:class:`Comparison`:

* **differences** in device, package, input, settings and versions — the
  context a reader needs before believing any figure;
* one :class:`Figure` per measured quantity (per-stage p50/p95/p99, the
  frame read (decode or capture, outside e2e) when recorded, FPS,
  cold start, CPU, memory, temperature, energy, accuracy) with the relative
  change B vs A and a verdict against a relative ``tolerance``. Latency
  changes smaller than an absolute noise floor (:data:`NOISE_FLOORS`) are
  never called a regression: +40 % of 0.02 ms is timer jitter, not a
  slower model;
* **output agreement** frame by frame, only when both sessions ran the same
  recording (same input sha256; frames matched by index): top-1 agreement
  for classifiers, the mean IoU of matched boxes (same class, IoU >= 0.5)
  for detectors. Agreement is a regression when more than ``tolerance`` of
  the frames answer differently.

A is the reference, B the candidate: "regression" always means B is worse.
Pure functions over a :class:`SessionStore`; safe from a worker thread.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from console.core.errors import UserError
from console.core.stats import STAGES
from console.core.store import LogStore

__all__ = [
    "DEFAULT_TOLERANCE",
    "NOISE_FLOORS",
    "Agreement",
    "CompareError",
    "Comparison",
    "Difference",
    "Figure",
    "SessionHead",
    "box_iou",
    "compare_sessions",
    "match_boxes",
    "parse_tolerance",
]

DEFAULT_TOLERANCE = 0.10
#: Absolute changes below these never count as a regression or improvement:
#: per-frame latency (ms), reading a frame (ms: decoding or capturing jitters
#: with the page cache and the camera — the same recording read twice here
#: differed by 0.08 ms at p99), cold start (ms: one measurement per session, so
#: its run-to-run spread is large), CPU (percentage points), memory (MiB),
#: temperature (°C).
NOISE_FLOORS: dict[str, float] = {"latency_ms": 0.05, "read_ms": 0.5, "cold_start_ms": 10.0,
                                  "cpu_pct": 2.0, "memory_mb": 2.0, "temp_c": 1.0}
#: IoU from which two boxes of the same class are the same object.
MATCH_IOU = 0.5
PERCENTILES = ("p50", "p95", "p99")


class CompareError(UserError):
    """The comparison cannot be made; one line naming the session."""


def parse_tolerance(text: str) -> float:
    """``10%`` or ``0.1`` -> 0.1. Raises ``ValueError`` with a one-line reason."""
    t = text.strip()
    try:
        v = float(t[:-1]) / 100.0 if t.endswith("%") else float(t)
    except ValueError:
        raise ValueError(f"bad tolerance {text!r}: use a percentage like 10% or a fraction "
                         "like 0.1") from None
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


@dataclass(frozen=True)
class Difference:
    section: str  # device | package | input | settings | versions
    field: str
    a: Any
    b: Any


@dataclass(frozen=True)
class Figure:
    """One compared quantity. ``change`` is relative, (b - a) / a."""

    name: str
    group: str  # latency | throughput | cold_start | resources | accuracy | agreement
    unit: str
    a: float | None
    b: float | None
    better: str  # "lower" | "higher"
    change: float | None
    verdict: str  # regression | improvement | same | unavailable
    text: str  # the verdict in words, e.g. "+18.0 % — regression beyond 10 %"

    @property
    def line(self) -> str:
        if self.group == "agreement":  # a property of the pair, not of A and B
            return f"{self.name}: {fmt_value(self.b, self.unit)}  {self.text}"
        return f"{self.name}: {fmt_value(self.a, self.unit)} → {fmt_value(self.b, self.unit)}" \
               f"  {self.text}"


@dataclass(frozen=True)
class Agreement:
    available: bool
    reason: str | None = None
    task: str | None = None
    frames_compared: int = 0
    top1_agree: int | None = None
    top1_agreement: float | None = None
    #: first frame indices where the top-1 differs (at most 50)
    disagreeing_frames: list[int] = field(default_factory=list)
    boxes_a: int | None = None
    boxes_b: int | None = None
    boxes_matched: int | None = None
    iou_mean: float | None = None


@dataclass(frozen=True)
class Comparison:
    a: SessionHead
    b: SessionHead
    tolerance: float
    differences: list[Difference]
    figures: list[Figure]
    agreement: Agreement

    @property
    def regressions(self) -> list[Figure]:
        return [f for f in self.figures if f.verdict == "regression"]

    def verdict_line(self) -> str:
        n = len(self.regressions)
        pct = f"{self.tolerance * 100:g} %"
        if n == 0:
            return f"no regression beyond {pct} (session {self.b.id} vs {self.a.id})"
        names = ", ".join(f.name for f in self.regressions[:6])
        more = f" and {n - 6} more" if n > 6 else ""
        return f"{n} regression{'s' if n > 1 else ''} beyond {pct}: {names}{more}"

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["regressions"] = [f.name for f in self.regressions]
        d["verdict"] = self.verdict_line()
        d["format"] = "devicelab-comparison/1"
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
    if unit in ("MiB", "°C", "mJ"):
        return f"{v:.1f} {unit}" if unit != "mJ" else f"{v:.3f} mJ"
    return f"{v:g}"


def _figure(name: str, group: str, unit: str, a: float | None, b: float | None, better: str,
            tol: float, floor: float = 0.0) -> Figure:
    pct = f"{tol * 100:g} %"
    if a is None or b is None:
        text = ("unavailable (neither session measured it)" if a is None and b is None
                else f"unavailable ({'A' if a is None else 'B'} did not measure it)")
        return Figure(name, group, unit, a, b, better, None, "unavailable", text)
    delta = b - a
    change = (0.0 if b == 0 else math.inf) if a == 0 else delta / abs(a)
    chg = "±0.0 %" if change == 0 else ("new" if math.isinf(change) else f"{change * 100:+.1f} %")
    worse = delta > 0 if better == "lower" else delta < 0
    if abs(change) <= tol:
        return Figure(name, group, unit, a, b, better, change, "same", f"{chg} — within {pct}")
    if abs(delta) < floor:
        return Figure(name, group, unit, a, b, better, change, "same",
                      f"{chg} ({delta:+.3g} {unit}) — below the {floor:g} {unit} noise floor")
    if worse:
        return Figure(name, group, unit, a, b, better, change, "regression",
                      f"{chg} — regression beyond {pct}")
    return Figure(name, group, unit, a, b, better, change, "improvement",
                  f"{chg} — improvement beyond {pct}")


def _head(s: Mapping[str, Any]) -> SessionHead:
    return SessionHead(
        id=int(s["id"]), uuid=str(s["uuid"]),
        title=f"{s.get('package_name')}@{s.get('package_version')}",
        device=str(s.get("device_name") or s.get("device_address") or "?"),
        input=str(s.get("input_desc") or "?"), status=str(s.get("status")),
        frames=int(s.get("frames_received") or 0), started_at=s.get("started_at"))


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


def _get(d: Any, *path: str) -> float | None:
    for p in path:
        if not isinstance(d, Mapping):
            return None
        d = d.get(p)
    return float(d) if isinstance(d, (int, float)) and not isinstance(d, bool) else None


def figures(sa: Mapping[str, Any], sb: Mapping[str, Any], tol: float,
            floors: Mapping[str, float] = NOISE_FLOORS) -> list[Figure]:
    """The compared figures of two summaries (A reference, B candidate)."""
    fl = {**NOISE_FLOORS, **floors}
    out = []
    for stage in STAGES:
        for p in PERCENTILES:
            out.append(_figure(f"{stage} {p}", "latency", "ms",
                               _get(sa, "latency_ms", stage, p), _get(sb, "latency_ms", stage, p),
                               "lower", tol, fl["latency_ms"]))
    # Reading the frame (decode, capture) is outside e2e; sessions before schema 2 lack it.
    if _get(sa, "read_ms", "p50") is not None or _get(sb, "read_ms", "p50") is not None:
        for p in PERCENTILES:
            out.append(_figure(f"read {p}", "latency", "ms", _get(sa, "read_ms", p),
                               _get(sb, "read_ms", p), "lower", tol, fl["read_ms"]))
    out.append(_figure("fps", "throughput", "fps", _get(sa, "fps"), _get(sb, "fps"), "higher",
                       tol))
    out.append(_figure("cold start", "cold_start", "ms", _get(sa, "cold_start_ms", "total"),
                       _get(sb, "cold_start_ms", "total"), "lower", tol, fl["cold_start_ms"]))
    out.append(_figure("agent cpu mean", "resources", "%", _get(sa, "cpu", "agent_mean"),
                       _get(sb, "cpu", "agent_mean"), "lower", tol, fl["cpu_pct"]))
    out.append(_figure("system cpu mean", "resources", "%", _get(sa, "cpu", "sys_mean"),
                       _get(sb, "cpu", "sys_mean"), "lower", tol, fl["cpu_pct"]))
    out.append(_figure("agent memory peak", "resources", "MiB",
                       _get(sa, "memory", "rss_peak_mb"), _get(sb, "memory", "rss_peak_mb"),
                       "lower", tol, fl["memory_mb"]))
    out.append(_figure("max temperature", "resources", "°C", _get(sa, "thermal", "max_c"),
                       _get(sb, "thermal", "max_c"), "lower", tol, fl["temp_c"]))
    out.append(_figure("energy per inference", "resources", "mJ",
                       _get(sa, "power", "energy_per_inference_mj"),
                       _get(sb, "power", "energy_per_inference_mj"), "lower", tol))
    acc_a, acc_b = _get(sa, "accuracy", "top1"), _get(sb, "accuracy", "top1")
    if acc_a is not None or acc_b is not None:
        out.append(_figure("accuracy top-1", "accuracy", "ratio", acc_a, acc_b, "higher", tol))
    return out


def box_iou(a: list[float], b: list[float]) -> float:
    """IoU of two ``[x1, y1, x2, y2, …]`` boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)
    return inter / union if union > 0 else 0.0


def match_boxes(boxes_a: list[list[float]], boxes_b: list[list[float]],
                min_iou: float = MATCH_IOU) -> list[float]:
    """Greedy one-to-one matching of same-class boxes (``[x1,y1,x2,y2,class,score]``),
    highest IoU first; returns the IoU of each matched pair."""
    pairs = []
    for ia, ba in enumerate(boxes_a):
        for ib, bb in enumerate(boxes_b):
            if len(ba) > 4 and len(bb) > 4 and int(ba[4]) != int(bb[4]):
                continue
            iou = box_iou(ba, bb)
            if iou >= min_iou:
                pairs.append((iou, ia, ib))
    pairs.sort(reverse=True)
    used_a: set[int] = set()
    used_b: set[int] = set()
    out = []
    for iou, ia, ib in pairs:
        if ia in used_a or ib in used_b:
            continue
        used_a.add(ia)
        used_b.add(ib)
        out.append(iou)
    return out


def agreement(store: LogStore, a: Mapping[str, Any], b: Mapping[str, Any]) -> Agreement:
    """Frame-by-frame output agreement; only for the same recording (input sha256)."""
    ha, hb = a.get("input_sha256"), b.get("input_sha256")
    if not ha or not hb:
        kinds = {a.get("input_kind"), b.get("input_kind")} - {"video"}
        why = (f"a {'/'.join(sorted(str(k) for k in kinds))} input has no fixed frames"
               if kinds else "an input has no recorded sha256")
        return Agreement(False, f"outputs not compared: {why}")
    if ha != hb:
        return Agreement(False, f"outputs not compared: the inputs differ (sha256 {ha[:12]}… vs "
                                f"{hb[:12]}…)")
    task_a = (a.get("package_manifest") or {}).get("task")
    task_b = (b.get("package_manifest") or {}).get("task")
    if task_a != task_b:
        return Agreement(False, f"outputs not compared: tasks differ ({task_a} vs {task_b})")
    fa, fb = store.frame_arrays(int(a["id"])), store.frame_arrays(int(b["id"]))
    common, ia, ib = np.intersect1d(fa["i"], fb["i"], return_indices=True)
    if common.size == 0:
        return Agreement(False, "outputs not compared: no frame index is in both sessions",
                         task=task_a)
    if task_a == "classification":
        ta, tb = fa["top1"][ia], fb["top1"][ib]
        both = (ta >= 0) & (tb >= 0)
        n = int(both.sum())
        if n == 0:
            return Agreement(False, "outputs not compared: no frame has a top-1 in both",
                             task=task_a, frames_compared=0)
        same = int((ta[both] == tb[both]).sum())
        diff_frames = [int(x) for x in common[both][ta[both] != tb[both]][:50]]
        return Agreement(True, None, task_a, n, same, same / n, diff_frames)
    if task_a == "detection":
        want = {int(x) for x in common}
        boxes_a = {f["i"]: (f["out"] or {}).get("boxes") or []
                   for f in store.iter_frames(int(a["id"])) if f["i"] in want}
        boxes_b = {f["i"]: (f["out"] or {}).get("boxes") or []
                   for f in store.iter_frames(int(b["id"])) if f["i"] in want}
        ious: list[float] = []
        na = nb = 0
        for i in sorted(want):
            ba, bb = boxes_a.get(i, []), boxes_b.get(i, [])
            na += len(ba)
            nb += len(bb)
            ious += match_boxes(ba, bb)
        return Agreement(True, None, task_a, len(want), boxes_a=na, boxes_b=nb,
                         boxes_matched=len(ious),
                         iou_mean=float(np.mean(ious)) if ious else None)
    return Agreement(False, f"outputs not compared: task {task_a!r} has no comparable output",
                     task=task_a)


def _agreement_figures(ag: Agreement, tol: float) -> list[Figure]:
    out = []
    pct = f"{tol * 100:g} %"
    if ag.top1_agreement is not None:
        v = ag.top1_agreement
        verdict = "regression" if v < 1 - tol else "same"
        text = (f"{ag.top1_agree}/{ag.frames_compared} frames agree — "
                + (f"more than {pct} of frames answer differently" if verdict == "regression"
                   else f"within {pct}"))
        out.append(Figure("top-1 agreement", "agreement", "ratio", None, v, "higher",
                          None, verdict, text))
    if ag.iou_mean is not None or (ag.boxes_a or ag.boxes_b):
        total = max(ag.boxes_a or 0, ag.boxes_b or 0)
        matched = (ag.boxes_matched or 0) / total if total else 1.0
        iou = ag.iou_mean
        verdict = "regression" if (iou is None or iou < 1 - tol or matched < 1 - tol) \
            else "same"
        text = (f"{ag.boxes_matched}/{total} boxes matched (IoU >= {MATCH_IOU:g}), "
                f"A {ag.boxes_a}, B {ag.boxes_b} — "
                + ("regression" if verdict == "regression" else f"within {pct}"))
        out.append(Figure("matched-IoU mean", "agreement", "ratio", None, iou, "higher",
                          None, verdict, text))
    return out


def compare_sessions(store: LogStore, ref_a: int | str, ref_b: int | str, *,
                     tolerance: float = DEFAULT_TOLERANCE,
                     floors: Mapping[str, float] = NOISE_FLOORS) -> Comparison:
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
    ag = agreement(store, a, b)
    figs = figures(a["summary"], b["summary"], tolerance, floors) + \
        _agreement_figures(ag, tolerance)
    return Comparison(_head(a), _head(b), tolerance, differences(a, b), figs, ag)
