"""Export a recorded session (or a comparison of two) to files other tools read.

Formats, one module each:

``csv``   (:mod:`.csv_export`) frames to ``PATH`` and telemetry to
          ``<PATH stem>.telemetry.csv`` (one row a sample, nested figures
          flattened as ``thermal.<zone>``).
``json``  (:mod:`.json_export`) one document: the session row, bookmarks,
          events, telemetry, frames.
``html``  (:mod:`.html_report`, charts in :mod:`.charts`) a self-contained
          report a field engineer attaches to a ticket; opens offline.
``mcap``  (:mod:`.mcap_export`) frames, flat telemetry, annotated preview
          frames (``foxglove.CompressedImage``, :mod:`.mcap_images`), events and
          bookmarks as MCAP channels: Foxglove Studio and PlotJuggler open it.
``trace`` (:mod:`.trace_export`) Chrome Trace Event Format JSON: frames and
          their stages, and a profiled session's operators; Perfetto and
          chrome://tracing open it.

Every export writes through :mod:`.target`: ``-`` is standard output; a
regular file (or a new name) gets a temporary file renamed at the end, so an
interrupted export never leaves half a file; FIFOs, devices and
``/dev/stdout`` are written straight; a missing folder is refused, never
created. Long exports report ``progress(fraction, text)`` and stop when
``cancel`` is set; the window calls them from a worker thread. Nothing here
prints (writing to ``-`` is the output the caller asked for). This module is the API
(:func:`export_session`, :func:`export_comparison`) and re-exports what
callers use, so ``from console.session.export import …`` keeps working.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from console.core.store import LogStore
from console.session.compare import DEFAULT_TOLERANCE, Comparison, compare_sessions
from console.session.export.charts import (
    _fmt_tick,
    _nice_ticks,
    cdf_chart,
    histogram_chart,
    line_chart,
)
from console.session.export.csv_export import export_csv, telemetry_csv_path
from console.session.export.html_report import (
    export_html,
    render_comparison_html,
    render_session_html,
)
from console.session.export.job import (
    ExportCancelled,
    ExportError,
    ExportResult,
    Job,
    Progress,
    find_session,
)
from console.session.export.json_export import export_json
from console.session.export.mcap_export import MCAP_TOPICS, export_mcap
from console.session.export.target import STDOUT, is_standard_output, open_target
from console.session.export.trace_export import export_trace

__all__ = [
    "FORMATS",
    "MCAP_TOPICS",
    "STDOUT",
    "ExportCancelled",
    "ExportError",
    "ExportResult",
    "Job",
    "Progress",
    "_fmt_tick",
    "_nice_ticks",
    "cdf_chart",
    "export_comparison",
    "export_session",
    "histogram_chart",
    "is_standard_output",
    "line_chart",
    "open_target",
    "render_comparison_html",
    "render_session_html",
    "telemetry_csv_path",
]

FORMATS = ("csv", "json", "html", "mcap", "trace")
_EXPORTERS: dict[str, Callable[[LogStore, dict[str, Any], Path, Job], ExportResult]] = {
    "csv": export_csv, "json": export_json, "html": export_html, "mcap": export_mcap,
    "trace": export_trace}


def export_session(store: LogStore, ref: int | str, fmt: str, path: str | os.PathLike[str],
                   *, progress: Progress | None = None,
                   cancel: threading.Event | None = None) -> ExportResult:
    """Export session ``ref`` (id or uuid prefix) as ``fmt`` to ``path``."""
    if fmt not in _EXPORTERS:
        raise ExportError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")
    s = find_session(store, ref)
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
    with open_target(p) as fh:
        if fmt == "json":
            json.dump(cmp.to_dict(), fh, indent=2, default=str)
            fh.write("\n")
        else:
            fh.write(render_comparison_html(store, cmp, progress, cancel))
    return cmp, ExportResult(fmt, [p])
