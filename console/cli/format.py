"""Plain-text layout of the rows in ``console.core.summary`` for the terminal.

Shared by ``run``, ``sessions show`` and ``plan show``. Nothing here computes
or words a figure: the rows arrive with their text, unit and hint; this module
only lines them up.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from console.core.formatting import NA, fmt_num, fmt_time
from console.core.summary import Section, Summary, summary_sections

__all__ = ["NA", "fmt_num", "fmt_time", "section_lines", "summary_lines"]


def section_lines(sections: Sequence[Section], indent: str = "  ") -> list[str]:
    lines: list[str] = []
    for sec in sections:
        if sec.columns:  # a grid: the latency table
            lines.append(f"{sec.title:<12} " + "".join(f"{c:>9}" for c in sec.columns))
            for r in sec.rows:
                body = "".join(f"{c:>9}" for c in r.cells) if r.cells else f"{r.text:>9}"
                note = f"   (*{r.hint})" if r.hint and r.cells else ""
                lines.append(f"{indent}{r.label:<10} {body}{note}")
            continue
        parts = [f"{r.label} {r.text}" + (f" ({r.hint})" if r.hint and r.value is None else "")
                 for r in sec.rows]
        head = "" if sec.title == "run" else f"{sec.title:<12} "
        lines.append(head + "   ".join(parts))
    return lines


def summary_lines(summary: Mapping[str, Any] | Summary) -> list[str]:
    s = summary if isinstance(summary, Summary) else Summary.from_dict(summary)
    return section_lines(summary_sections(s))
