"""Performance budgets: what a package (or a run) promises, checked against a summary.

Budget keys (manifest ``budgets`` and ``--budget KEY=VALUE``)::

    p95_ms, p99_ms     end-to-end latency percentile, milliseconds
    cold_start_s       package load + session + first inference, seconds
    memory_mb          agent RSS peak, MiB
    max_temp_c         hottest thermal zone, °C
    energy_mj          energy per inference, millijoules
    min_fps            throughput floor, frames per second

A figure the device did not measure (no thermal sensor, no power meter)
gives the verdict ``unmeasured``, never a pass.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from console.core.errors import UserError
from console.core.manifest import BUDGET_KEYS

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


def _measured(summary: Mapping[str, Any], key: str) -> float | None:
    lat = (summary.get("latency_ms") or {}).get("e2e") or {}
    if key == "p95_ms":
        return lat.get("p95")
    if key == "p99_ms":
        return lat.get("p99")
    if key == "cold_start_s":
        total = (summary.get("cold_start_ms") or {}).get("total")
        return None if total is None else total / 1000.0
    if key == "memory_mb":
        return (summary.get("memory") or {}).get("rss_peak_mb")
    if key == "max_temp_c":
        return (summary.get("thermal") or {}).get("max_c")
    if key == "energy_mj":
        return (summary.get("power") or {}).get("energy_per_inference_mj")
    if key == "min_fps":
        return summary.get("fps")
    return None


def evaluate_budgets(summary: Mapping[str, Any], budgets: Mapping[str, float]
                     ) -> list[dict[str, Any]]:
    """One verdict per budget: pass, fail or unmeasured."""
    out = []
    for key in sorted(budgets):
        limit = float(budgets[key])
        value = _measured(summary, key)
        if value is None:
            verdict = "unmeasured"
        elif key == "min_fps":
            verdict = "pass" if value >= limit else "fail"
        else:
            verdict = "pass" if value <= limit else "fail"
        out.append({"budget": key, "limit": limit, "value": value, "verdict": verdict})
    return out


def overall_verdict(verdicts: Sequence[Mapping[str, Any]] | None) -> str:
    """One word for a set of budget verdicts: ``fail`` if any failed, ``unmeasured``
    if any figure was not measured (never a pass), ``pass`` if all passed,
    ``none`` when no budget was declared."""
    if not verdicts:
        return "none"
    kinds = {str(v.get("verdict")) for v in verdicts}
    if "fail" in kinds:
        return "fail"
    if "unmeasured" in kinds:
        return "unmeasured"
    return "pass"


def budget_unit(key: str) -> str:
    """The unit a budget key is kept in (for display)."""
    return {"p95_ms": "ms", "p99_ms": "ms", "cold_start_s": "s", "memory_mb": "MiB",
            "max_temp_c": "°C", "energy_mj": "mJ", "min_fps": "fps"}.get(key, "")
