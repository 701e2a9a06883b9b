"""Export a recorded session (or a comparison of two) to files other tools read.

Formats:

``csv``   frames to ``PATH`` and telemetry to ``<PATH stem>.telemetry.csv``
          (one row a sample, nested figures flattened as ``thermal.<zone>``).
``json``  one document: the session row, bookmarks, events, telemetry, frames.
``html``  a self-contained report a field engineer attaches to a ticket:
          facts, summary, budgets, bookmarks, events and plots drawn here as
          inline SVG (latency over time, latency histogram and CDF per stage,
          CPU, memory, temperature and power over time). No script, no font,
          no stylesheet, no image is fetched: it opens offline. A figure the
          session did not measure is drawn as an "unavailable" panel, never
          as an empty plot.
``mcap``  frames, telemetry, events and bookmarks as MCAP channels with JSON
          schemas (events use ``foxglove.Log`` so Foxglove's Log panel shows
          them), session facts as MCAP metadata: Foxglove Studio and
          PlotJuggler open it. Written by the ``mcap`` package.

Every export writes to a temporary file beside the target and renames it
at the end, so an interrupted export never leaves half a file. Long exports
report ``progress(fraction, text)`` and stop when ``cancel`` is set; the
window calls them from a worker thread. Nothing here prints.
"""

from __future__ import annotations

import csv
import heapq
import html
import itertools
import json
import math
import os
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import numpy as np

from console import __version__
from console.core.errors import UserError
from console.core.stats import STAGES
from console.core.store import LogStore
from console.session.compare import DEFAULT_TOLERANCE, Comparison, compare_sessions, fmt_value
from console.session.replay import Timeline, load_timeline

__all__ = [
    "FORMATS",
    "ExportCancelled",
    "ExportError",
    "ExportResult",
    "Progress",
    "export_comparison",
    "export_session",
    "render_comparison_html",
    "render_session_html",
]

FORMATS = ("csv", "json", "html", "mcap")
Progress = Callable[[float, str], None]
#: Events listed in the HTML report (newest kept); the JSON export has all of them.
MAX_REPORT_EVENTS = 500


class ExportError(UserError):
    """The export failed; one line naming the file or session and what to do."""


class ExportCancelled(ExportError):
    pass


@dataclass(frozen=True)
class ExportResult:
    format: str
    paths: list[Path]
    frames: int = 0
    telemetry: int = 0
    events: int = 0
    notes: list[str] = field(default_factory=list)


class Job:
    """Progress + cancellation for one export."""

    def __init__(self, progress: Progress | None, cancel: threading.Event | None) -> None:
        self._progress = progress
        self._cancel = cancel
        self._last = -1.0

    def step(self, fraction: float, text: str) -> None:
        if self._cancel is not None and self._cancel.is_set():
            raise ExportCancelled("export cancelled")
        if self._progress is not None and (fraction - self._last >= 0.01 or fraction >= 1.0):
            self._last = fraction
            self._progress(min(1.0, max(0.0, fraction)), text)


@contextmanager
def atomic_write(path: Path, mode: str = "w") -> Iterator[IO[Any]]:
    """Write to a temp file in the target's folder; rename only on success."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".part", dir=path.parent)
    except OSError as exc:
        raise ExportError(f"cannot write {path}: {exc.strerror}; check the folder exists and is "
                          "writable") from None
    try:
        kw: dict[str, Any] = {} if "b" in mode else {"encoding": "utf-8", "newline": ""}
        with os.fdopen(fd, mode, **kw) as fh:
            yield fh
        os.chmod(tmp, 0o666 & ~_umask())  # as if created with open(): mkstemp makes 0600
        os.replace(tmp, path)
    except OSError as exc:
        _unlink(tmp)
        raise ExportError(f"cannot write {path}: {exc.strerror or exc}") from None
    except BaseException:
        _unlink(tmp)
        raise


def _umask() -> int:
    """The process umask, read without os.umask() (which would change it, for every
    thread, while it is being read)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    return 0o022


def _unlink(p: str) -> None:
    try:
        os.unlink(p)
    except OSError:
        pass


def _session(store: LogStore, ref: int | str) -> dict[str, Any]:
    s = store.find_session(str(ref))
    if s is None:
        raise ExportError(f"no session {ref!r} in {store.where}")
    return s


# -- csv ------------------------------------------------------------------------
FRAME_COLUMNS = ("frame", "ts", "t_s", "pre_ms", "infer_ms", "post_ms", "e2e_ms", "top1",
                 "top1_score", "output_json", "read_ms")


def _flatten(sample: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in sample.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping):
            out.update(_flatten(v, key + "."))
        elif isinstance(v, (list, tuple)):
            out[key] = json.dumps(v, separators=(",", ":"))
        else:
            out[key] = v
    return out


def telemetry_csv_path(path: Path) -> Path:
    p = Path(path)
    stem = p.name[:-4] if p.name.lower().endswith(".csv") else p.name
    return p.with_name(f"{stem}.telemetry.csv")


def _export_csv(store: LogStore, s: dict[str, Any], path: Path, job: Job) -> ExportResult:
    sid = int(s["id"])
    total = max(1, store.frame_count(sid))
    t0: float | None = None
    n = 0
    with atomic_write(path) as fh:
        w = csv.writer(fh)
        w.writerow(FRAME_COLUMNS)
        for f in store.iter_frames(sid):
            if t0 is None:
                t0 = f["ts"]
            w.writerow([f["i"], repr(f["ts"]), f"{f['ts'] - t0:.6f}", f["pre"], f["infer"],
                        f["post"], f["e2e"], f["top1"], f["top1_score"],
                        json.dumps(f["out"], separators=(",", ":")) if f["out"] else "",
                        "" if f.get("read_ms") is None else f["read_ms"]])
            n += 1
            if n % 2000 == 0:
                job.step(0.8 * n / total, f"frames {n}/{total}")
    samples = store.telemetry(sid)
    base = t0 if t0 is not None else (samples[0]["ts"] if samples else 0.0)
    flat = [_flatten({k: v for k, v in x.items() if k != "ts"}) for x in samples]
    keys: list[str] = []
    for row in flat:
        for k in row:
            if k not in keys:
                keys.append(k)
    keys.sort(key=lambda k: ("." in k, k))
    tpath = telemetry_csv_path(path)
    with atomic_write(tpath) as fh:
        w = csv.writer(fh)
        w.writerow(["ts", "t_s", *keys])
        for x, row in zip(samples, flat):
            w.writerow([repr(x["ts"]), f"{x['ts'] - base:.6f}",
                        *("" if row.get(k) is None else row[k] for k in keys)])
    job.step(1.0, "done")
    return ExportResult("csv", [Path(path), tpath], frames=n, telemetry=len(samples))


# -- json -----------------------------------------------------------------------
def _export_json(store: LogStore, s: dict[str, Any], path: Path, job: Job) -> ExportResult:
    sid = int(s["id"])
    total = max(1, store.frame_count(sid))
    events = store.events(sid)
    samples = store.telemetry(sid)
    dumps = json.JSONEncoder(default=str, separators=(",", ":")).encode
    n = 0
    with atomic_write(path) as fh:
        fh.write('{"format":"devicelab-session/1","exported_by":' + dumps(__version__)
                 + ',"exported_at":' + dumps(time.time()) + ',\n"session":' + dumps(s)
                 + ',\n"bookmarks":' + dumps(store.bookmarks(sid))
                 + ',\n"events":' + dumps(events)
                 + ',\n"telemetry":[')
        for k, x in enumerate(samples):
            fh.write(("," if k else "") + "\n" + dumps(x))
        fh.write('],\n"frames":[')
        for f in store.iter_frames(sid):
            row = {"i": f["i"], "ts": f["ts"], "pre": f["pre"], "infer": f["infer"],
                   "post": f["post"], "e2e": f["e2e"], "top1": f["top1"],
                   "top1_score": f["top1_score"], "out": f["out"], "read_ms": f.get("read_ms")}
            fh.write(("," if n else "") + "\n" + dumps(row))
            n += 1
            if n % 2000 == 0:
                job.step(n / total, f"frames {n}/{total}")
        fh.write("]}\n")
    job.step(1.0, "done")
    return ExportResult("json", [Path(path)], frames=n, telemetry=len(samples),
                        events=len(events))


# -- mcap -----------------------------------------------------------------------
_FRAME_SCHEMA = {
    "title": "devicelab.Frame", "type": "object",
    "description": "One inference: stage latencies in milliseconds and the decoded output.",
    "properties": {
        "i": {"type": "integer", "description": "frame index in the input"},
        "t": {"type": "number", "description": "seconds since the first frame"},
        "pre_ms": {"type": "number"}, "infer_ms": {"type": "number"},
        "post_ms": {"type": "number"}, "e2e_ms": {"type": "number"},
        "top1": {"type": ["integer", "null"]}, "top1_score": {"type": ["number", "null"]},
        "out": {"type": ["object", "null"],
                "description": "top: [[class, score]…] or boxes: [[x1,y1,x2,y2,class,score]…]"},
        "read_ms": {"type": ["number", "null"],
                    "description": "time the source took to deliver the frame (decode, "
                                   "capture); null from agents before it was measured"},
    },
}
_TELEMETRY_SCHEMA = {
    "title": "devicelab.Telemetry", "type": "object",
    "description": "One telemetry sample from the device; figures it lacks are absent.",
    "properties": {
        "t": {"type": "number"}, "cpu_sys": {"type": "number"}, "cpu_agent": {"type": "number"},
        "rss_mb": {"type": "number"}, "mem_used_mb": {"type": "number"},
        "mem_total_mb": {"type": "number"}, "sampler_cpu": {"type": "number"},
        "thermal": {"type": "object", "additionalProperties": {"type": "number"}},
        "power_w": {"type": "object", "additionalProperties": {"type": "number"}},
        "energy_j": {"type": "object", "additionalProperties": {"type": "number"}},
    },
    "additionalProperties": True,
}
#: Foxglove's well-known log message, so the Log panel shows the session's events.
_LOG_SCHEMA = {
    "title": "foxglove.Log", "type": "object",
    "properties": {
        "timestamp": {"type": "object", "properties": {"sec": {"type": "integer"},
                                                       "nsec": {"type": "integer"}}},
        "level": {"type": "integer", "description": "1 debug, 2 info, 3 warning, 4 error, "
                                                     "5 fatal"},
        "message": {"type": "string"}, "name": {"type": "string"},
        "file": {"type": "string"}, "line": {"type": "integer"},
    },
}
_BOOKMARK_SCHEMA = {
    "title": "devicelab.Bookmark", "type": "object",
    "properties": {"frame": {"type": ["integer", "null"]}, "note": {"type": "string"}},
}
_LOG_LEVELS = {"debug": 1, "info": 2, "warning": 3, "error": 4, "fatal": 5}
MCAP_TOPICS = {"frames": "/devicelab/frames", "telemetry": "/devicelab/telemetry",
               "events": "/devicelab/events", "bookmarks": "/devicelab/bookmarks"}


def _ns(ts: float) -> int:
    return max(0, round(ts * 1e9))


def _export_mcap(store: LogStore, s: dict[str, Any], path: Path, job: Job) -> ExportResult:
    from mcap.writer import Writer

    sid = int(s["id"])
    total = max(1, store.frame_count(sid))
    samples = store.telemetry(sid)
    events = store.events(sid)
    marks = store.bookmarks(sid)
    first = store.first_frame_ts(sid)
    t0 = float(first if first is not None else (samples[0]["ts"] if samples else
                                                s.get("started_at") or 0.0))
    enc = json.JSONEncoder(separators=(",", ":"), default=str).encode
    counts = {"frames": 0, "telemetry": 0, "events": 0, "bookmarks": 0}

    def frames() -> Iterator[tuple[float, str, bytes]]:
        for f in store.iter_frames(sid):
            yield f["ts"], "frames", enc({
                "i": f["i"], "t": f["ts"] - t0, "pre_ms": f["pre"], "infer_ms": f["infer"],
                "post_ms": f["post"], "e2e_ms": f["e2e"], "top1": f["top1"],
                "top1_score": f["top1_score"], "out": f["out"],
                "read_ms": f.get("read_ms")}).encode()

    def telemetry() -> Iterator[tuple[float, str, bytes]]:
        for x in samples:
            d = {k: v for k, v in x.items() if k != "ts"}
            d["t"] = x["ts"] - t0
            yield x["ts"], "telemetry", enc(d).encode()

    def log() -> Iterator[tuple[float, str, bytes]]:
        for e in events:
            sec = int(e["ts"])
            yield e["ts"], "events", enc({
                "timestamp": {"sec": sec, "nsec": round((e["ts"] - sec) * 1e9) % 10**9},
                "level": _LOG_LEVELS.get(e["level"], 0), "message": e["text"] or "",
                "name": e["code"] or "", "file": "", "line": 0}).encode()

    def bookmarks() -> Iterator[tuple[float, str, bytes]]:
        for b in sorted(marks, key=lambda b: b["ts"] or t0):
            yield (b["ts"] or t0), "bookmarks", enc({"frame": b["frame_i"],
                                                     "note": b["note"] or ""}).encode()

    with atomic_write(path, "wb") as fh:
        w = Writer(fh)
        w.start(profile="", library=f"devicelab {__version__}")
        ch: dict[str, int] = {}
        for key, schema in (("frames", _FRAME_SCHEMA), ("telemetry", _TELEMETRY_SCHEMA),
                            ("events", _LOG_SCHEMA), ("bookmarks", _BOOKMARK_SCHEMA)):
            sch = w.register_schema(name=str(schema["title"]), encoding="jsonschema",
                                    data=json.dumps(schema).encode())
            ch[key] = w.register_channel(topic=MCAP_TOPICS[key], message_encoding="json",
                                         schema_id=sch)
        merged = heapq.merge(frames(), telemetry(), log(), bookmarks(), key=lambda m: m[0])
        for seq, (ts, key, data) in enumerate(merged):
            w.add_message(channel_id=ch[key], log_time=_ns(ts), publish_time=_ns(ts),
                          data=data, sequence=seq)
            counts[key] += 1
            if key == "frames" and counts["frames"] % 2000 == 0:
                job.step(counts["frames"] / total, f"frames {counts['frames']}/{total}")
        w.add_metadata("devicelab.session", _session_metadata(s))
        w.finish()
    job.step(1.0, "done")
    return ExportResult("mcap", [Path(path)], frames=counts["frames"],
                        telemetry=counts["telemetry"], events=counts["events"])


def _session_metadata(s: Mapping[str, Any]) -> dict[str, str]:
    """MCAP metadata is str -> str: scalars as text, structures as JSON."""
    out = {}
    for k, v in s.items():
        if v is None:
            continue
        out[k] = v if isinstance(v, str) else json.dumps(v, default=str, separators=(",", ":"))
    return out


# -- SVG plots --------------------------------------------------------------------
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2",
           "#17becf")
_W, _H = 960, 260
_ML, _MR, _MT, _MB = 64, 16, 30, 42
#: Points kept per line after min/max decimation (spikes survive, files stay small).
MAX_LINE_POINTS = 1600


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _nice_ticks(lo: float, hi: float, n: int = 5) -> tuple[list[float], float]:
    if not (math.isfinite(lo) and math.isfinite(hi)):
        lo, hi = 0.0, 1.0
    if hi <= lo:
        hi = lo + (abs(lo) * 0.1 or 1.0)
    raw = (hi - lo) / n
    mag = 10 ** math.floor(math.log10(raw))
    step = mag
    for m in (1, 2, 2.5, 5, 10):
        if raw <= m * mag:
            step = m * mag
            break
    first = math.floor(lo / step + 1e-9)
    last = math.ceil(hi / step - 1e-9)
    ticks = [round(k * step, 12) for k in range(first, max(last, first + 1) + 1)]
    return ticks, step


def _fmt_tick(v: float, step: float) -> str:
    if step >= 1:
        return f"{v:.0f}" if step == int(step) else f"{v:.1f}"  # 2.5-steps keep their .5
    exp = math.floor(math.log10(step))
    mant = round(step / 10**exp, 6)  # 1, 2, 2.5 or 5
    decimals = -exp + (0 if mant == int(mant) else 1)
    return f"{v:.{min(decimals, 9)}f}"


class _Axes:
    """A plot area with linear axes; maps data to SVG pixels."""

    def __init__(self, x_lo: float, x_hi: float, y_lo: float, y_hi: float,
                 w: int = _W, h: int = _H) -> None:
        self.w, self.h = w, h
        self.xt, xs = _nice_ticks(x_lo, x_hi)
        self.yt, ys = _nice_ticks(y_lo, y_hi)
        self.x_lo, self.x_hi = self.xt[0], self.xt[-1]
        self.y_lo, self.y_hi = self.yt[0], self.yt[-1]
        self.xs, self.ys = xs, ys

    def px(self, x: np.ndarray | float) -> Any:
        span = (self.x_hi - self.x_lo) or 1.0
        return _ML + (np.asarray(x, np.float64) - self.x_lo) / span * (self.w - _ML - _MR)

    def py(self, y: np.ndarray | float) -> Any:
        span = (self.y_hi - self.y_lo) or 1.0
        return self.h - _MB - (np.asarray(y, np.float64) - self.y_lo) / span * \
            (self.h - _MT - _MB)

    def frame(self, title: str, xlabel: str, ylabel: str) -> list[str]:
        w, h = self.w, self.h
        out = [f'<svg xmlns="http://www.w3.org/2000/svg" class="plot" viewBox="0 0 {w} {h}" '
               f'width="{w}" height="{h}" role="img" aria-label="{_e(title)}">',
               f'<rect x="0" y="0" width="{w}" height="{h}" fill="#fff"/>',
               f'<text x="{_ML}" y="18" class="t">{_e(title)}</text>']
        for t in self.yt:
            y = float(self.py(t))
            out.append(f'<line x1="{_ML}" x2="{w - _MR}" y1="{y:.1f}" y2="{y:.1f}" '
                       f'class="grid"/><text x="{_ML - 6}" y="{y + 4:.1f}" class="yl">'
                       f'{_fmt_tick(t, self.ys)}</text>')
        for t in self.xt:
            x = float(self.px(t))
            out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{_MT}" y2="{h - _MB}" '
                       f'class="grid"/><text x="{x:.1f}" y="{h - _MB + 16}" class="xl">'
                       f'{_fmt_tick(t, self.xs)}</text>')
        out.append(f'<rect x="{_ML}" y="{_MT}" width="{w - _ML - _MR}" height="{h - _MT - _MB}" '
                   'class="box"/>')
        out.append(f'<text x="{(w + _ML) / 2:.0f}" y="{h - 6}" class="xl">{_e(xlabel)}</text>')
        out.append(f'<text transform="translate(14 {(h - _MB + _MT) / 2:.0f}) rotate(-90)" '
                   f'class="xl">{_e(ylabel)}</text>')
        return out

    def legend(self, items: Sequence[tuple[str, str]]) -> list[str]:
        out = []
        x = self.w - _MR - 8
        for label, color in reversed(items):
            width = 7 * len(label) + 20
            x -= width
            out.append(f'<rect x="{x}" y="8" width="10" height="10" fill="{color}"/>'
                       f'<text x="{x + 14}" y="17" class="lg">{_e(label)}</text>')
        return out


def unavailable_svg(title: str, reason: str, w: int = _W, h: int = 90) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="plot na" viewBox="0 0 {w} {h}" '
            f'width="{w}" height="{h}" role="img" aria-label="{_e(title)}: unavailable">'
            f'<rect x="0.5" y="0.5" width="{w - 1}" height="{h - 1}" class="nabox"/>'
            f'<text x="{_ML}" y="26" class="t">{_e(title)}</text>'
            f'<text x="{_ML}" y="58" class="na">unavailable — {_e(reason)}</text></svg>')


def _decimate(x: np.ndarray, y: np.ndarray, limit: int = MAX_LINE_POINTS
              ) -> tuple[np.ndarray, np.ndarray]:
    """Keep each bucket's min and max (in time order) so spikes stay visible."""
    n = x.size
    if n <= limit:
        return x, y
    buckets = limit // 2
    edges = np.linspace(0, n, buckets + 1).astype(np.int64)
    xs, ys = [], []
    for a, b in itertools.pairwise(edges):
        if b <= a:
            continue
        seg = y[a:b]
        if np.all(np.isnan(seg)):
            xs.append(x[a])
            ys.append(np.nan)
            continue
        lo, hi = int(np.nanargmin(seg)), int(np.nanargmax(seg))
        for k in sorted({lo, hi}):
            xs.append(x[a + k])
            ys.append(seg[k])
    return np.asarray(xs), np.asarray(ys)


def _path(ax: _Axes, x: np.ndarray, y: np.ndarray) -> str:
    """SVG path data; NaN breaks the line."""
    px, py = ax.px(x), ax.py(y)
    parts = []
    pen = False
    for a, b, v in zip(px, py, y):
        if not math.isfinite(float(v)):
            pen = False
            continue
        parts.append(f"{'L' if pen else 'M'}{a:.1f},{b:.1f}")
        pen = True
    return "".join(parts)


def line_chart(title: str, series: Sequence[tuple[str, np.ndarray, np.ndarray]], *,
               xlabel: str = "time (s)", ylabel: str = "", zero: bool = True,
               marks: Sequence[tuple[float, str]] = (), unavailable: str = "no samples"
               ) -> str:
    """Lines over a shared x axis; ``marks`` are vertical bookmark lines (x, label)."""
    usable = [(lab, np.asarray(x, np.float64), np.asarray(y, np.float64)) for lab, x, y in series]
    usable = [(lab, x, y) for lab, x, y in usable if x.size and np.isfinite(y).any()]
    if not usable:
        return unavailable_svg(title, unavailable)
    xs = np.concatenate([x for _, x, _ in usable])
    ys = np.concatenate([y[np.isfinite(y)] for _, _, y in usable])
    y_lo = min(0.0, float(ys.min())) if zero else float(ys.min())
    ax = _Axes(float(xs.min()), float(xs.max()), y_lo, float(ys.max()))
    out = ax.frame(title, xlabel, ylabel)
    items = []
    for k, (lab, x, y) in enumerate(usable):
        color = PALETTE[k % len(PALETTE)]
        dx, dy = _decimate(x, y)
        out.append(f'<path d="{_path(ax, dx, dy)}" fill="none" stroke="{color}" '
                   f'stroke-width="1.2"><title>{_e(lab)}</title></path>')
        items.append((lab, color))
    for mx, label in marks:
        if ax.x_lo <= mx <= ax.x_hi:
            px = float(ax.px(mx))
            out.append(f'<line x1="{px:.1f}" x2="{px:.1f}" y1="{_MT}" y2="{ax.h - _MB}" '
                       f'class="mark"/><text x="{px + 3:.1f}" y="{_MT + 12}" class="mk">'
                       f'{_e(label[:40])}</text>')
    out += ax.legend(items)
    out.append("</svg>")
    return "".join(out)


def histogram_chart(title: str, series: Sequence[tuple[str, np.ndarray]], *,
                    xlabel: str = "latency (ms)", bins: int = 60) -> str:
    """Overlaid histograms on shared bins, as % of each series' frames.

    The range stops at the 99.5th percentile so one outlier does not squash
    the distribution; what lies beyond is counted in the last bin and said
    in the title.
    """
    usable = [(lab, np.asarray(v, np.float64)) for lab, v in series]
    usable = [(lab, v[np.isfinite(v)]) for lab, v in usable]
    usable = [(lab, v) for lab, v in usable if v.size]
    if not usable:
        return unavailable_svg(title, "no frames")
    allv = np.concatenate([v for _, v in usable])
    lo, hi = float(allv.min()), float(np.percentile(allv, 99.5))
    if hi <= lo:
        hi = lo + max(abs(lo) * 0.05, 1e-3)
    edges = np.linspace(lo, hi, bins + 1)
    over = int((allv > hi).sum())
    hists = []
    for lab, v in usable:
        h, _ = np.histogram(np.clip(v, lo, hi), bins=edges)
        hists.append((lab, h / v.size * 100.0))
    ymax = max(float(h.max()) for _, h in hists)
    note = f" — {over} frame{'s' if over != 1 else ''} above {hi:.3f} ms in the last bin" \
        if over else ""
    ax = _Axes(lo, hi, 0.0, ymax)
    out = ax.frame(title + note, xlabel, "% of frames")
    items = []
    for k, (lab, h) in enumerate(hists):
        color = PALETTE[k % len(PALETTE)]
        pts = [f"M{float(ax.px(edges[0])):.1f},{float(ax.py(0)):.1f}"]
        for j, c in enumerate(h):
            pts.append(f"L{float(ax.px(edges[j])):.1f},{float(ax.py(c)):.1f}"
                       f"L{float(ax.px(edges[j + 1])):.1f},{float(ax.py(c)):.1f}")
        pts.append(f"L{float(ax.px(edges[-1])):.1f},{float(ax.py(0)):.1f}Z")
        out.append(f'<path d="{"".join(pts)}" fill="{color}" fill-opacity="0.35" '
                   f'stroke="{color}" stroke-width="1"><title>{_e(lab)}</title></path>')
        items.append((lab, color))
    out += ax.legend(items)
    out.append("</svg>")
    return "".join(out)


def cdf_chart(title: str, series: Sequence[tuple[str, np.ndarray]], *,
              xlabel: str = "latency (ms)") -> str:
    """Empirical CDFs. The axis stops at the 99.5th percentile, like the histogram, so
    a handful of outliers does not flatten the curve; the title says where and
    what the maximum was."""
    usable = [(lab, np.sort(np.asarray(v, np.float64)[np.isfinite(np.asarray(v, np.float64))]))
              for lab, v in series]
    usable = [(lab, v) for lab, v in usable if v.size]
    if not usable:
        return unavailable_svg(title, "no frames")
    allv = np.concatenate([v for _, v in usable])
    lo = float(allv.min())
    top = float(allv.max())
    hi = float(np.percentile(allv, 99.5))
    if hi <= lo:
        hi = lo + max(abs(lo) * 0.05, 1e-3)
    note = f" — axis ends at {hi:.3f} ms (p99.5), max {top:.3f} ms" if top > hi else ""
    ax = _Axes(lo, hi, 0.0, 100.0)
    out = ax.frame(title + note, xlabel, "% of frames at or below")
    items = []
    for k, (lab, v) in enumerate(usable):
        color = PALETTE[k % len(PALETTE)]
        n = v.size
        if n > MAX_LINE_POINTS:
            q = np.linspace(0, 1, MAX_LINE_POINTS)
            x = np.quantile(v, q)
            y = q * 100.0
        else:
            x = v
            y = np.arange(1, n + 1) / n * 100.0
        keep = x <= ax.x_hi
        out.append(f'<path d="{_path(ax, x[keep], y[keep])}" fill="none" stroke="{color}" '
                   f'stroke-width="1.5"><title>{_e(lab)}</title></path>')
        items.append((lab, color))
    for p in (50, 95, 99):
        yp = float(ax.py(p))
        ty = yp - 3 if p == 99 else yp + 11  # p95 and p99 lines are close: labels apart
        out.append(f'<line x1="{_ML}" x2="{ax.w - _MR}" y1="{yp:.1f}" y2="{yp:.1f}" class="pl"/>'
                   f'<text x="{_ML + 30}" y="{ty:.1f}" class="yl">p{p}</text>')
    out += ax.legend(items)
    out.append("</svg>")
    return "".join(out)


# -- HTML -------------------------------------------------------------------------
_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;
 margin:0;background:#f4f5f7;color:#1d2330}
main{max-width:1000px;margin:0 auto;padding:20px 16px 60px}
h1{font-size:22px;margin:8px 0 2px}h2{font-size:17px;margin:26px 0 8px;border-bottom:1px solid
 #ccd;padding-bottom:3px}.sub{color:#555;margin:0 0 10px}
table{border-collapse:collapse;background:#fff;margin:4px 0 10px;width:100%}
td,th{border:1px solid #dde;padding:3px 7px;text-align:left;vertical-align:top;font-size:13px}
th{background:#eef0f4;font-weight:600}td.n{text-align:right;font-variant-numeric:tabular-nums}
.pass{color:#11772d;font-weight:600}.fail{color:#b3261e;font-weight:600}
.unmeasured,.na{color:#777}.regression{color:#b3261e;font-weight:600}
.improvement{color:#11772d}.status-completed{color:#11772d}.status-failed,
.status-interrupted{color:#b3261e}.mono{font-family:ui-monospace,Menlo,Consolas,monospace;
 font-size:12px;word-break:break-all}
svg.plot{display:block;max-width:100%;height:auto;margin:6px 0 12px;border:1px solid #dde}
svg .t{font:600 13px sans-serif;fill:#1d2330}svg .xl{font:11px sans-serif;fill:#444;
 text-anchor:middle}svg .yl{font:11px sans-serif;fill:#444;text-anchor:end}
svg .lg{font:11px sans-serif;fill:#333}svg .grid{stroke:#e6e8ee;stroke-width:1}
svg .box{fill:none;stroke:#99a}svg .mark{stroke:#7a3ed6;stroke-dasharray:4 3}
svg .mk{font:10px sans-serif;fill:#7a3ed6}svg .pl{stroke:#bbb;stroke-dasharray:2 3}
svg .nabox{fill:#fafafa;stroke:#ccd;stroke-dasharray:5 4}svg .na{font:13px sans-serif;
 fill:#777}.lvl-error{color:#b3261e}.lvl-warning{color:#9a6700}footer{color:#777;
 margin-top:30px;font-size:12px}
"""


def _fmt_ts(ts: float | None) -> str:
    if not ts:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


def _num(v: Any, spec: str = ".3f", unit: str = "") -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return '<span class="na">unavailable</span>'
    return _e(f"{v:{spec}}{unit}")


def _kv_table(rows: Iterable[tuple[str, Any]]) -> str:
    out = ["<table>"]
    for k, v in rows:
        out.append(f"<tr><th style='width:170px'>{_e(k)}</th><td>{v}</td></tr>")
    out.append("</table>")
    return "".join(out)


def _facts_html(s: Mapping[str, Any]) -> str:
    f = s.get("device_facts") or {}
    libs = f.get("libraries") or {}
    ident = s.get("device_identity") or {}
    settings = s.get("settings") or {}
    pm = s.get("package_manifest") or {}
    rows: list[tuple[str, Any]] = [
        ("status", f'<span class="status-{_e(s.get("status"))}">{_e(s.get("status"))}</span>'
         + (f" — {_e(s['error'])}" if s.get("error") else "")),
        ("session", f'{_e(s["id"])} <span class="mono">{_e(s.get("uuid"))}</span>'
         + (f" — replay of session {_e(s['replay_of'])}" if s.get("replay_of") else "")),
        ("started / ended", f"{_e(_fmt_ts(s.get('started_at')))} / "
                            f"{_e(_fmt_ts(s.get('ended_at')))}"),
        ("device", _e(f"{s.get('device_name')} [{s.get('device_address')}]")),
        ("hardware", _e(", ".join(str(x) for x in (f.get("board"), f.get("cpu_model"),
                                                      f"{f.get('cores')} cores" if f.get("cores")
                                                      else None, f.get("arch")) if x))
         or '<span class="na">unknown</span>'),
        ("os / kernel", _e(f"{f.get('os') or '?'} / {f.get('kernel') or '?'}")),
        ("runtime", _e(f"python {f.get('python')}, numpy {libs.get('numpy')}, onnxruntime "
                       f"{libs.get('onnxruntime')}, opencv {libs.get('opencv')}; provider "
                       f"{s.get('provider')}")),
    ]
    if ident.get("host_key_sha256"):
        rows.append(("host key", f'<span class="mono">{_e(ident.get("host_key_type"))} '
                                 f'{_e(ident["host_key_sha256"])}</span>'))
    rows += [
        ("package", _e(f"{s.get('package_name')}@{s.get('package_version')} ({pm.get('task')})")
         + (f" signed by {_e(s['package_signer'])}" if s.get("package_signer") else "")),
        ("package sha256", f'<span class="mono">manifest {_e(s.get("package_digest"))}<br>'
                           f'model {_e(s.get("package_model_sha256"))}</span>'),
        ("input", _e(f"{s.get('input_kind')}: {s.get('input_desc')}")
         + (f'<br><span class="mono">sha256 {_e(s["input_sha256"])}</span>'
            if s.get("input_sha256") else "")),
        ("settings", _e(", ".join(f"{k}={v}" for k, v in settings.items()
                                  if k != "input" and v not in (None, "", {}, [])))),
        ("versions", _e(f"console {s.get('console_version')}, agent {s.get('agent_version')}, "
                        f"protocol v{s.get('protocol_version')}")),
    ]
    if s.get("note"):
        rows.append(("note", _e(s["note"])))
    if s.get("tags"):
        rows.append(("tags", _e(", ".join(s["tags"]))))
    return _kv_table(rows)


def _summary_html(summary: Mapping[str, Any]) -> str:
    if not summary:
        return '<p class="na">no summary (the session has not ended)</p>'
    lat = summary.get("latency_ms") or {}
    cols = ("p50", "p90", "p95", "p99", "p99.9", "max", "mean")
    out = ["<table><tr><th>latency (ms)</th>" + "".join(f"<th>{c}</th>" for c in cols)
           + "</tr>"]
    for stage in STAGES:
        st = lat.get(stage)
        if not st:
            out.append(f"<tr><th>{stage}</th><td colspan='{len(cols)}' class='na'>unavailable"
                       "</td></tr>")
            continue
        out.append(f"<tr><th>{stage}</th>" + "".join(f"<td class='n'>{_num(st.get(c))}</td>"
                                                     for c in cols) + "</tr>")
    out.append("</table>")
    cold = summary.get("cold_start_ms") or {}
    cpu = summary.get("cpu") or {}
    mem = summary.get("memory") or {}
    th = summary.get("thermal")
    pw = summary.get("power")
    acc = summary.get("accuracy")
    tel = summary.get("telemetry") or {}
    rows: list[tuple[str, Any]] = [
        ("frames", _e(summary.get("frames", 0))
         + (f" ({_e(summary['missing_frames'])} missing)" if summary.get("missing_frames")
            else "")),
        ("throughput", f"{_num(summary.get('fps'), '.1f', ' fps')} over "
                       f"{_num(summary.get('duration_s'), '.2f', ' s')}"),
        ("cold start", f"{_num(cold.get('total'), '.1f', ' ms')} (package "
                       f"{_num(cold.get('package'), '.1f', ' ms')}, session "
                       f"{_num(cold.get('session'), '.1f', ' ms')}, first inference "
                       f"{_num(cold.get('first_infer'), '.1f', ' ms')})"),
        ("cpu", f"system mean {_num(cpu.get('sys_mean'), '.0f', ' %')}, peak "
                f"{_num(cpu.get('sys_peak'), '.0f', ' %')}; agent mean "
                f"{_num(cpu.get('agent_mean'), '.0f', ' %')}, peak "
                f"{_num(cpu.get('agent_peak'), '.0f', ' %')}"),
        ("memory", f"agent RSS peak {_num(mem.get('rss_peak_mb'), '.1f', ' MiB')}; system used "
                   f"peak {_num(mem.get('mem_used_peak_mb'), '.0f', ' MiB')}"),
        ("temperature", (f"max {_num(th.get('max_c'), '.1f', ' °C')} ("
                         + _e(", ".join(f"{k} {v:.1f}" for k, v in
                                        sorted((th.get("zones") or {}).items()))) + ")")
         if th else '<span class="na">unavailable (the device reports no thermal zones)'
                    '</span>'),
        ("power", (_e(", ".join(f"{k} {v:.2f} W" for k, v in
                                sorted((pw.get("mean_w") or {}).items())) or "-")
                   + f"; energy/inference {_num(pw.get('energy_per_inference_mj'), '.3f', ' mJ')}")
         if pw else '<span class="na">unavailable (no power sensor on the device)</span>'),
        ("telemetry", f"{_e(tel.get('samples', 0))} samples, sampling cost "
                      f"{_num(tel.get('sampler_cpu_mean'), '.2f', ' % of a core')}"),
    ]
    if acc:
        rows.append(("accuracy", f"top-1 {_num(acc.get('top1'), '.4f')} on "
                                 f"{_e(acc.get('frames_scored', 0))} frames with ground truth"))
    out.append(_kv_table(rows))
    return "".join(out)


def _budgets_html(summary: Mapping[str, Any]) -> str:
    budgets = (summary or {}).get("budgets") or []
    if not budgets:
        return '<p class="na">no budgets declared by the package or the run</p>'
    out = ["<table><tr><th>budget</th><th>limit</th><th>measured</th><th>verdict</th></tr>"]
    for b in budgets:
        v = str(b.get("verdict"))
        limit = b.get("limit")
        lim = f"{limit:g}" if isinstance(limit, (int, float)) else "-"
        out.append(f"<tr><td>{_e(b.get('budget'))}</td><td class='n'>{_e(lim)}"
                   f"</td><td class='n'>{_num(b.get('value'))}</td>"
                   f"<td class='{_e(v)}'>{_e(v.upper())}</td></tr>")
    out.append("</table>")
    return "".join(out)


def _bookmarks_html(tl: Timeline) -> str:
    if not tl.bookmarks:
        return '<p class="na">no bookmarks</p>'
    out = ["<table><tr><th>frame</th><th>time (s)</th><th>note</th></tr>"]
    for b in tl.bookmarks:
        t = (b["ts"] - tl.t0) if b.get("ts") is not None else None
        out.append(f"<tr><td class='n'>{_e(b['frame_i']) if b.get('frame_i') is not None else '-'}"
                   f"</td><td class='n'>{_num(t, '.3f')}</td><td>{_e(b.get('note') or '')}"
                   "</td></tr>")
    out.append("</table>")
    return "".join(out)


def _events_html(tl: Timeline) -> str:
    ev = tl.events
    if not ev:
        return '<p class="na">no events</p>'
    shown = ev[-MAX_REPORT_EVENTS:]
    out = []
    if len(ev) > len(shown):
        out.append(f"<p>{len(ev) - len(shown)} earlier events left out (the JSON export has "
                   "them all).</p>")
    out.append("<table><tr><th>time (s)</th><th>level</th><th>code</th><th>text</th></tr>")
    for e in shown:
        out.append(f"<tr class='lvl-{_e(e['level'])}'><td class='n'>{e['ts'] - tl.t0:.3f}</td>"
                   f"<td>{_e(e['level'])}</td><td>{_e(e.get('code') or '')}</td>"
                   f"<td>{_e(e.get('text') or '')}</td></tr>")
    out.append("</table>")
    return "".join(out)


def _marks(tl: Timeline) -> list[tuple[float, str]]:
    out = []
    for b in tl.bookmarks:
        if b.get("ts") is not None:
            out.append((b["ts"] - tl.t0, str(b.get("note") or "")))
        elif b.get("frame_i") is not None:
            pos = tl.position_of_frame(int(b["frame_i"]))
            if pos is not None:
                out.append((float(tl.frames["t"][pos]), str(b.get("note") or "")))
    return out


def _session_plots(tl: Timeline) -> list[tuple[str, str]]:
    """(section title, svg) for a session report."""
    fr, te = tl.frames, tl.telemetry
    marks = _marks(tl)
    t = fr["t"]
    plots = [
        ("Latency over time", line_chart(
            "latency per frame (ms)", [(st, t, fr[st]) for st in ("e2e", "infer", "pre", "post")],
            ylabel="ms", marks=marks, unavailable="no frames were recorded")),
    ]
    for st in STAGES:
        plots.append((f"Latency distribution — {st}",
                      histogram_chart(f"{st} latency histogram", [(st, fr[st])])
                      + cdf_chart(f"{st} latency CDF", [(st, fr[st])])))
    plots.append(("CPU over time", line_chart(
        "cpu (% of one core for the agent; % of all cores for the system)",
        [("system", te["t"], te["cpu_sys"]), ("agent", te["t"], te["cpu_agent"])],
        ylabel="%", marks=marks, unavailable="no CPU samples were recorded")))
    plots.append(("Memory over time", line_chart(
        "memory (MiB)", [("agent RSS", te["t"], te["rss_mb"]),
                         ("system used", te["t"], te["mem_used_mb"])],
        ylabel="MiB", marks=marks, unavailable="no memory samples were recorded")))
    plots.append(("Temperature over time", line_chart(
        "temperature (°C)", [(z, te["t"], v) for z, v in tl.thermal.items()],
        ylabel="°C", zero=False, marks=marks,
        unavailable="the device reports no thermal zones")))
    plots.append(("Power over time", line_chart(
        "power (W, highest source)", [("power", te["t"], te["power_w"])], ylabel="W",
        marks=marks, unavailable="no power sensor on the device")))
    return plots


def _page(title: str, body: Sequence[str]) -> str:
    return ("<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
            "<meta name='viewport' content='width=device-width, initial-scale=1'>"
            # No network, no scripts: the report is data, not an app.
            "<meta http-equiv='Content-Security-Policy' content=\"default-src 'none'; "
            "style-src 'unsafe-inline'; img-src data:\">"
            f"<title>{_e(title)}</title><style>{_CSS}</style></head><body><main>"
            + "".join(body)
            + f"<footer>Generated by Device Lab Console {_e(__version__)} on "
              f"{_e(_fmt_ts(time.time()))}. Self-contained: no network needed.</footer>"
              "</main></body></html>\n")


def render_session_html(store: LogStore, ref: int | str,
                        progress: Progress | None = None,
                        cancel: threading.Event | None = None) -> str:
    """The HTML report of one session as a string."""
    job = Job(progress, cancel)
    s = _session(store, ref)
    job.step(0.05, "loading frames and telemetry")
    tl = load_timeline(store, int(s["id"]))
    job.step(0.5, "drawing plots")
    title = (f"Session {s['id']} — {s.get('package_name')}@{s.get('package_version')} on "
             f"{s.get('device_name') or s.get('device_address')}")
    body = [f"<h1>{_e(title)}</h1><p class='sub'>{_e(s.get('input_desc'))} · "
            f"{_e(s.get('frames_received') or 0)} frames · {_e(_fmt_ts(s.get('started_at')))}"
            "</p>",
            "<h2>Session</h2>", _facts_html(s),
            "<h2>Summary</h2>", _summary_html(s.get("summary") or {}),
            "<h2>Budgets</h2>", _budgets_html(s.get("summary") or {})]
    plots = _session_plots(tl)
    for k, (sec, svg) in enumerate(plots):
        job.step(0.5 + 0.45 * k / len(plots), f"plot {sec}")
        body += [f"<h2>{_e(sec)}</h2>", svg]
    body += ["<h2>Bookmarks</h2>", _bookmarks_html(tl), "<h2>Events</h2>", _events_html(tl)]
    job.step(1.0, "done")
    return _page(title, body)


def render_comparison_html(store: LogStore, cmp: Comparison,
                           progress: Progress | None = None,
                           cancel: threading.Event | None = None) -> str:
    job = Job(progress, cancel)
    a, b = cmp.a, cmp.b
    la, lb = f"A: session {a.id}", f"B: session {b.id}"
    title = f"Comparison — session {b.id} ({b.title}) vs {a.id} ({a.title})"
    body = [f"<h1>{_e(title)}</h1>",
            f"<p class='sub'>A is the reference, B the candidate; tolerance "
            f"{cmp.tolerance * 100:g} %. <b>{_e(cmp.verdict_line())}</b></p>",
            "<table><tr><th></th><th>session</th><th>package</th><th>device</th><th>input</th>"
            "<th>frames</th><th>status</th></tr>"]
    for lab, h in (("A", a), ("B", b)):
        body.append(f"<tr><th>{lab}</th><td>{h.id} <span class='mono'>{_e(h.uuid[:12])}</span>"
                    f"</td><td>{_e(h.title)}</td><td>{_e(h.device)}</td><td>{_e(h.input)}</td>"
                    f"<td class='n'>{h.frames}</td><td>{_e(h.status)}</td></tr>")
    body.append("</table><h2>Differences</h2>")
    if cmp.differences:
        body.append("<table><tr><th>what</th><th>A</th><th>B</th></tr>")
        for d in cmp.differences:
            body.append(f"<tr><td>{_e(d.section)} {_e(d.field)}</td>"
                        f"<td class='mono'>{_e(d.a)}</td><td class='mono'>{_e(d.b)}</td></tr>")
        body.append("</table>")
    else:
        body.append("<p>none: same device, package, input and settings</p>")
    body.append("<h2>Figures</h2><table><tr><th>figure</th><th>A</th><th>B</th><th>change</th>"
                "</tr>")
    for f in cmp.figures:
        av = "" if f.group == "agreement" else _e(fmt_value(f.a, f.unit))
        body.append(f"<tr><td>{_e(f.name)}</td><td class='n'>{av}</td>"
                    f"<td class='n'>{_e(fmt_value(f.b, f.unit))}</td>"
                    f"<td class='{_e(f.verdict)}'>{_e(f.text)}</td></tr>")
    body.append("</table>")
    ag = cmp.agreement
    if not ag.available:
        body.append(f"<p class='na'>{_e(ag.reason)}</p>")
    elif ag.disagreeing_frames:
        body.append("<p>frames where the top-1 differs (first 50): "
                    f"<span class='mono'>{_e(', '.join(map(str, ag.disagreeing_frames)))}"
                    "</span></p>")
    job.step(0.3, "loading frames")
    ta, tb = load_timeline(store, a.id), load_timeline(store, b.id)
    job.step(0.6, "drawing plots")
    for st in STAGES:
        body += [f"<h2>Latency distribution — {st}</h2>",
                 histogram_chart(f"{st} latency histogram",
                                 [(la, ta.frames[st]), (lb, tb.frames[st])]),
                 cdf_chart(f"{st} latency CDF", [(la, ta.frames[st]), (lb, tb.frames[st])])]
    body += ["<h2>Latency over time</h2>",
             line_chart("e2e latency per frame (ms)",
                        [(la, ta.frames["t"], ta.frames["e2e"]),
                         (lb, tb.frames["t"], tb.frames["e2e"])], ylabel="ms"),
             "<h2>Resources over time</h2>",
             line_chart("agent cpu (%)", [(la, ta.telemetry["t"], ta.telemetry["cpu_agent"]),
                                          (lb, tb.telemetry["t"], tb.telemetry["cpu_agent"])],
                        ylabel="%"),
             line_chart("agent RSS (MiB)", [(la, ta.telemetry["t"], ta.telemetry["rss_mb"]),
                                            (lb, tb.telemetry["t"], tb.telemetry["rss_mb"])],
                        ylabel="MiB"),
             line_chart("max temperature (°C)",
                        [(la, ta.telemetry["t"], ta.telemetry["temp_max_c"]),
                         (lb, tb.telemetry["t"], tb.telemetry["temp_max_c"])],
                        ylabel="°C", zero=False,
                        unavailable="neither device reports thermal zones")]
    job.step(1.0, "done")
    return _page(title, body)


def _export_html(store: LogStore, s: dict[str, Any], path: Path, job: Job) -> ExportResult:
    sid = int(s["id"])
    text = render_session_html(store, sid, job._progress, job._cancel)
    with atomic_write(path) as fh:
        fh.write(text)
    n_tel, n_ev = store.telemetry_count(sid), store.event_count(sid)
    return ExportResult("html", [Path(path)], frames=store.frame_count(sid), telemetry=n_tel,
                        events=n_ev)


_EXPORTERS = {"csv": _export_csv, "json": _export_json, "html": _export_html,
              "mcap": _export_mcap}


def export_session(store: LogStore, ref: int | str, fmt: str, path: str | os.PathLike[str],
                   *, progress: Progress | None = None,
                   cancel: threading.Event | None = None) -> ExportResult:
    """Export session ``ref`` (id or uuid prefix) as ``fmt`` to ``path``."""
    if fmt not in _EXPORTERS:
        raise ExportError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")
    s = _session(store, ref)
    job = Job(progress, cancel)
    result = _EXPORTERS[fmt](store, s, Path(path), job)
    if s.get("status") == "running":
        result.notes.append(f"session {s['id']} is still recording: the export holds what was "
                            "recorded so far")
    return result


def export_comparison(store: LogStore, ref_a: int | str, ref_b: int | str,
                      path: str | os.PathLike[str], fmt: str | None = None, *,
                      tolerance: float = DEFAULT_TOLERANCE, progress: Progress | None = None,
                      cancel: threading.Event | None = None) -> tuple[Comparison, ExportResult]:
    """Compare B against A and write the comparison as ``html`` or ``json``
    (default: from the file name's suffix)."""
    p = Path(path)
    fmt = fmt or p.suffix.lower().lstrip(".")
    if fmt not in ("html", "json"):
        raise ExportError(f"a comparison exports as html or json, not {fmt or p.name!r}; name "
                          "the file .html or .json")
    cmp = compare_sessions(store, ref_a, ref_b, tolerance=tolerance)
    with atomic_write(p) as fh:
        if fmt == "json":
            json.dump(cmp.to_dict(), fh, indent=2, default=str)
            fh.write("\n")
        else:
            fh.write(render_comparison_html(store, cmp, progress, cancel))
    return cmp, ExportResult(fmt, [p])
