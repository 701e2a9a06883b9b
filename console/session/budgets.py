"""Performance budgets: what a package (or a run) promises, checked against a summary.

Budget keys (manifest ``budgets`` and ``--budget KEY=VALUE``)::

    p95_ms, p99_ms     end-to-end latency percentile, milliseconds
    cold_start_s       package load + session + first inference, seconds
    memory_mb          agent RSS peak, MiB
    max_temp_c         hottest thermal zone, °C
    energy_mj          energy per inference, millijoules
    min_fps            throughput floor, frames per second

Each budget is checked against the figure's confidence interval (default
95 %, :mod:`console.core.verdicts`): ``pass`` when the whole interval is
within the budget, ``fail`` when the whole interval is beyond it,
``inconclusive`` otherwise — a run too short for an interval decides only
when every steady-state frame is on one side. The latency percentiles and
the frame rate are steady-state figures with block-bootstrap intervals;
cold start, memory peak, temperature and energy are single measurements of
the run, checked as measured. A figure the device did not measure (no
thermal sensor, no power meter) is ``inconclusive`` ("unavailable"), never
a pass. ``devicelab run --fail-on-budget`` fails on ``fail``;
``--strict-budgets`` also on ``inconclusive``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import asdict
from typing import Any

import numpy as np

from console.core.errors import UserError
from console.core.manifest import BUDGET_KEYS
from console.core.stats import SessionData, steady_data
from console.core.store import LogStore, StoreError
from console.core.verdicts import (
    DEFAULT_LEVEL,
    FAIL,
    INCONCLUSIVE,
    PASS,
    Interval,
    check_budget,
    exact,
    latency_intervals,
    min_obs_for,
    rate_interval,
)
from console.core.verdicts.blocks import SESSIONS_METHOD
from console.session.identical import spread_of_one

_ALIASES = {"p95": "p95_ms", "p99": "p99_ms", "cold_start": "cold_start_s",
            "memory": "memory_mb", "mem": "memory_mb", "temp": "max_temp_c",
            "max_temp": "max_temp_c", "energy": "energy_mj", "fps": "min_fps"}
_UNITS = {"ms": ("ms", 1.0), "s": ("ms", 1000.0), "mb": ("mb", 1.0), "mib": ("mb", 1.0),
          "gb": ("mb", 1024.0), "c": ("c", 1.0), "mj": ("mj", 1.0), "j": ("mj", 1000.0),
          "fps": ("fps", 1.0)}


#: The unit family each budget is measured in (what a unit suffix must belong to).
_BASE = {"p95_ms": "ms", "p99_ms": "ms", "cold_start_s": "ms", "memory_mb": "mb",
         "max_temp_c": "c", "energy_mj": "mj", "min_fps": "fps"}
_EXAMPLE_UNITS = {"p95_ms": "ms or s", "p99_ms": "ms or s", "cold_start_s": "s or ms",
                  "memory_mb": "MB or GB", "max_temp_c": "C", "energy_mj": "mJ or J",
                  "min_fps": "fps"}


class BudgetError(UserError, ValueError):
    pass


def parse_budget(text: str) -> tuple[str, float]:
    """``p95=50ms`` -> ("p95_ms", 50.0); ``cold_start=1.5s`` -> ("cold_start_s", 1.5)."""
    m = re.match(r"^\s*([A-Za-z0-9_]+)\s*=\s*([0-9.]+)\s*([a-zA-Z°]*)\s*$", text)
    if not m:
        raise BudgetError(f"bad budget {text!r}: use KEY=VALUE[unit], e.g. p95=50ms")
    name = m.group(1).lower()
    key = _ALIASES.get(name, name)
    if key not in BUDGET_KEYS:
        raise BudgetError(f"unknown budget {m.group(1)!r}; known: {', '.join(BUDGET_KEYS)}")
    try:
        value = float(m.group(2))
    except ValueError:
        raise BudgetError(f"bad number in budget {text!r}") from None
    unit = m.group(3).lower().replace("°", "")
    if unit:
        if unit not in _UNITS:
            raise BudgetError(f"unknown unit {unit!r} in budget {text!r}")
        base, factor = _UNITS[unit]
        if base != _BASE[key]:
            raise BudgetError(f"budget {text!r}: {key} is not measured in {m.group(3)} (use "
                              f"{_EXAMPLE_UNITS[key]})")
        value *= factor
        if key == "cold_start_s":
            value /= 1000.0  # budget kept in seconds
    return key, value


_PERCENTILE = {"p95_ms": ("p95", 0.95), "p99_ms": ("p99", 0.99)}
_MISSING = {"max_temp_c": "the device reports no thermal zones",
            "energy_mj": "the device has no power or energy sensor",
            "memory_mb": "no memory sample was recorded",
            "cold_start_s": "the run recorded no cold start",
            "min_fps": "fewer than two frames", "p95_ms": "no frame", "p99_ms": "no frame"}


def _single(summary: Mapping[str, Any], key: str) -> float | None:
    if key == "cold_start_s":
        total = (summary.get("cold_start_ms") or {}).get("total")
        return None if total is None else total / 1000.0
    if key == "memory_mb":
        return (summary.get("memory") or {}).get("rss_peak_mb")
    if key == "max_temp_c":
        return (summary.get("thermal") or {}).get("max_c")
    if key == "energy_mj":
        return (summary.get("power") or {}).get("energy_per_inference_mj")
    return None


def _interval(summary: Mapping[str, Any], data: SessionData | None, key: str, level: float,
              run_noise: Mapping[str, float] | None) -> Interval | None:
    if key in _PERCENTILE:
        name, q = _PERCENTILE[key]
        if data is None or "e2e" not in data.stages:
            return None
        e2e = data.stages["e2e"]
        iv = latency_intervals(data.ts, e2e, level, run_noise).get(name)
        if iv is not None and iv.decisive and iv.n < min_obs_for(q) \
                and iv.method != SESSIONS_METHOD:  # identical sessions' spread: holds it
            finite = e2e[np.isfinite(e2e)]  # too few frames beyond the percentile: the range
            iv = Interval(iv.estimate, float(finite.min()), float(finite.max()), level, iv.n,
                          "range", iv.windows, iv.window_s)
        return iv
    if key == "min_fps":
        return None if data is None or data.ts.size < 2 else rate_interval(data.ts, level,
                                                                           run_noise)
    return exact(_single(summary, key), level)


def evaluate_budgets(summary: Mapping[str, Any], budgets: Mapping[str, float],
                     data: SessionData | None = None, *, level: float = DEFAULT_LEVEL,
                     run_noise: Mapping[str, float] | None = None) -> list[dict[str, Any]]:
    """One verdict per budget (``pass``, ``fail`` or ``inconclusive``), as the dict the
    summary stores: the :class:`console.core.verdicts.BudgetVerdict` fields, plus ``value``
    (the estimate, for readers of older summaries). ``data`` is the session's steady
    state (:func:`console.core.stats.steady_data`); without it the latency and FPS
    budgets are inconclusive."""
    out = []
    for key in sorted(budgets):
        limit = float(budgets[key])
        iv = _interval(summary, data, key, level, run_noise)
        why = _MISSING.get(key, "not measured") if data is not None or key not in (
            *_PERCENTILE, "min_fps") else "no frame data to estimate an interval from"
        bv = check_budget(key, limit, iv, upper=key != "min_fps", unit=budget_unit(key),
                          missing=why)
        d = asdict(bv)
        d["value"] = bv.estimate
        out.append(d)
    return out


def overall_verdict(verdicts: Sequence[Mapping[str, Any]] | None) -> str:
    """One word for a set of budget verdicts: ``fail`` if any failed, ``inconclusive``
    if any could not be decided (never a pass), ``pass`` if all passed, ``none`` when no
    budget was declared. Older summaries' ``unmeasured`` reads as ``inconclusive``."""
    if not verdicts:
        return "none"
    kinds = {str(v.get("verdict")) for v in verdicts}
    if FAIL in kinds:
        return FAIL
    if kinds - {PASS}:
        return INCONCLUSIVE
    return PASS


def budget_unit(key: str) -> str:
    """The unit a budget key is kept in (for display)."""
    return {"p95_ms": "ms", "p99_ms": "ms", "cold_start_s": "s", "memory_mb": "MiB",
            "max_temp_c": "°C", "energy_mj": "mJ", "min_fps": "fps"}.get(key, "")


def budget_data(store: LogStore, session_id: int, summary: Mapping[str, Any]
                ) -> SessionData | None:
    """What the latency and FPS budgets need from the log (frame times and e2e only: a
    long session costs 16 bytes a frame here, once); None when it cannot be read."""
    try:
        cols = {c: store.frame_column(session_id, c) for c in ("ts", "e2e")}
    except StoreError:
        return None
    return steady_data(cols, [], summary)


def add_budget_verdicts(summary: dict[str, Any], budgets: Mapping[str, float], session_id: int,
                        open_log: Callable[[], AbstractContextManager[LogStore]]
                        ) -> list[dict[str, Any]]:
    """Judge a finished session's ``summary`` against ``budgets``: the verdicts, also put
    in its ``"budgets"`` list (no budgets: none, the summary left as it is). The latency
    and FPS budgets read the session's frames from ``open_log()``, opened only when there
    are budgets; a log that cannot be opened or read leaves those inconclusive, and says
    why. The one judgement of a run as it ends and of one finalized later."""
    data, noise = None, None
    if budgets:
        try:
            with open_log() as store:
                data = budget_data(store, session_id, summary)
                row = store.get_session(session_id)
                # the device's spread from the session's identical ones, when the log has
                # enough (session.identical); else the assumed allowance
                noise = spread_of_one(store, row, DEFAULT_LEVEL) if row else None
        except StoreError:
            data = None
    verdicts = evaluate_budgets(summary, budgets, data, run_noise=noise)
    if verdicts:
        summary["budgets"] = verdicts
    return verdicts
