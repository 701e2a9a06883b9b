"""How a number or a time reads, everywhere: terminal, window, HTML report.

One place, so a figure never reads "0.123" in one view and "0.12" in another.
A missing figure reads :data:`NA` ("unavailable"): the device did not provide
it, which is not the same as zero. Qt-free.
"""

from __future__ import annotations

import math
import time
from typing import Any

NA = "unavailable"
#: what a table cell shows for a figure not measured (keeps the column narrow)
DASH = "–"


def fmt_num(v: Any, spec: str = ".3f", unit: str = "", na: str = NA) -> str:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return na
    try:
        return f"{v:{spec}}{unit}"
    except (TypeError, ValueError):
        return str(v)


def fmt_time(ts: float | None, na: str = "-") -> str:
    """Local wall-clock time of a Unix timestamp, to the second."""
    if not ts:
        return na
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))
