"""The compatibility matrix: which package runs how on which device, built from the log.

This is the table QA keeps by hand today. Rows are devices as they were
when the session ran (name, hardware model, OS, kernel: a kernel upgrade
is a new row, because it can change the figures). Columns are
package ``name@version`` × runtime (onnxruntime, LiteRT, OpenVINO) and its
version × execution provider / device. A cell
is the **latest** ended session for that pair — whatever its ending, so a
board where the newest run failed shows ``failed``, not an older success —
with its p95 end-to-end latency, FPS and overall budget verdict
(:func:`console.session.budgets.overall_verdict`), and the session id it
links to. Sessions still recording are left out. A run that failed before
loading its model recorded no provider; it goes in the column of the
provider the default resolved to for that device, package and runtime.

:func:`build_matrix` is a pure function over a :class:`SessionStore`
returning dataclasses; safe from a worker thread.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from console.core.store import LogStore
from console.session.budgets import overall_verdict

__all__ = ["Cell", "Column", "DeviceRow", "Matrix", "build_matrix"]


@dataclass(frozen=True, order=True)
class DeviceRow:
    name: str
    model: str
    os: str
    kernel: str

    @property
    def label(self) -> str:
        return " · ".join(x for x in (self.name, self.model, self.os, self.kernel) if x)


@dataclass(frozen=True, order=True)
class Column:
    package: str  # name@version
    runtime: str  # onnxruntime | litert | openvino
    runtime_version: str
    provider: str  # the EP / device / delegate that ran it

    @property
    def onnxruntime(self) -> str:
        """The onnxruntime version of an onnxruntime column ("-" for other runtimes)."""
        return self.runtime_version if self.runtime == "onnxruntime" else "-"

    @property
    def label(self) -> str:
        return f"{self.package} · {self.runtime} {self.runtime_version} · {self.provider}"


@dataclass(frozen=True)
class Cell:
    session_id: int
    status: str
    started_at: float | None
    p95_ms: float | None
    fps: float | None
    budget: str  # pass | fail | inconclusive | none
    budgets_failed: tuple[str, ...] = ()
    sessions: int = 1  # sessions recorded for this pair (the cell shows the latest)


@dataclass(frozen=True)
class Matrix:
    rows: list[DeviceRow]
    columns: list[Column]
    cells: dict[tuple[int, int], Cell]

    def cell(self, row: int, col: int) -> Cell | None:
        return self.cells.get((row, col))

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": "devicelab-matrix/1",
            "rows": [{"name": r.name, "model": r.model, "os": r.os, "kernel": r.kernel,
                      "label": r.label} for r in self.rows],
            "columns": [{"package": c.package, "runtime": c.runtime,
                         "runtime_version": c.runtime_version, "onnxruntime": c.onnxruntime,
                         "provider": c.provider, "label": c.label} for c in self.columns],
            "cells": [{"row": r, "column": c, "session_id": cell.session_id,
                       "status": cell.status, "started_at": cell.started_at,
                       "p95_ms": cell.p95_ms, "fps": cell.fps, "budget": cell.budget,
                       "budgets_failed": list(cell.budgets_failed), "sessions": cell.sessions}
                      for (r, c), cell in sorted(self.cells.items())],
        }


def device_row(s: Mapping[str, Any]) -> DeviceRow:
    f = s.get("device_facts") or {}
    return DeviceRow(
        name=str(s.get("device_name") or s.get("device_address") or "?"),
        model=str(f.get("board") or f.get("cpu_model") or "unknown model"),
        os=str(f.get("os") or "unknown OS"),
        kernel=str(f.get("kernel") or "unknown kernel"))


def column(s: Mapping[str, Any], provider: str | None = None) -> Column:
    """The session's column. Its runtime is what the agent said ran the model, else the
    package's (a run that failed before loading it); a session recorded before runtimes
    had a name ran onnxruntime, whose version the device facts hold."""
    libs = (s.get("device_facts") or {}).get("libraries") or {}
    manifest = (s.get("package_manifest") or {}).get("manifest") or {}
    runtime = str(s.get("runtime") or manifest.get("runtime") or "onnxruntime")
    version = s.get("runtime_version") or (libs.get("onnxruntime") if runtime == "onnxruntime"
                                           else None)
    used = s.get("provider") or (s.get("settings") or {}).get("provider") or provider
    return Column(package=f"{s.get('package_name')}@{s.get('package_version')}",
                  runtime=runtime, runtime_version=str(version or "?"),
                  provider=str(used or "unknown provider"))


def _default_providers(sessions: list[dict[str, Any]]) -> dict[tuple[Any, ...], str]:
    """What "the default provider" turned out to be, per device, package and runtime.

    A run that failed before loading the model recorded no provider; when it
    asked for the default, it belongs in the column of the provider the
    default resolved to on that device (if the log shows exactly one).
    """
    seen: dict[tuple[Any, ...], set[str]] = {}
    for s in sessions:
        if s.get("provider") and not (s.get("settings") or {}).get("provider"):
            c = column(s)
            seen.setdefault((device_row(s), c.package, c.runtime, c.runtime_version),
                            set()).add(c.provider)
    return {k: next(iter(v)) for k, v in seen.items() if len(v) == 1}


def build_matrix(store: LogStore, *, since: float | None = None,
                 device: str | None = None, package: str | None = None) -> Matrix:
    """The matrix over every ended session (optionally filtered like ``sessions list``)."""
    sessions = store.list_sessions(device=device, package=package, since=since,
                                   limit=1_000_000_000)
    sessions = [s for s in sessions if s.get("status") != "running"]
    defaults = _default_providers(sessions)
    latest: dict[tuple[DeviceRow, Column], dict[str, Any]] = {}
    counts: dict[tuple[DeviceRow, Column], int] = {}
    for s in sessions:
        row, col = device_row(s), column(s)
        if col.provider == "unknown provider":
            col = column(s, defaults.get((row, col.package, col.runtime, col.runtime_version)))
        key = (row, col)
        counts[key] = counts.get(key, 0) + 1
        when = (s.get("started_at") or s.get("created_at") or 0.0, int(s["id"]))
        cur = latest.get(key)
        if cur is None or when > (cur.get("started_at") or cur.get("created_at") or 0.0,
                                  int(cur["id"])):
            latest[key] = s
    rows = sorted({k[0] for k in latest})
    cols = sorted({k[1] for k in latest})
    ri = {r: i for i, r in enumerate(rows)}
    ci = {c: i for i, c in enumerate(cols)}
    cells = {}
    for (r, c), s in latest.items():
        summ = s.get("summary") or {}
        e2e = (summ.get("latency_ms") or {}).get("e2e") or {}
        verdicts = summ.get("budgets") or []
        cells[(ri[r], ci[c])] = Cell(
            session_id=int(s["id"]), status=str(s.get("status")),
            started_at=s.get("started_at"), p95_ms=e2e.get("p95"), fps=summ.get("fps"),
            budget=overall_verdict(verdicts),
            budgets_failed=tuple(str(v.get("budget")) for v in verdicts
                                 if v.get("verdict") == "fail"),
            sessions=counts[(r, c)])
    return Matrix(rows, cols, cells)
