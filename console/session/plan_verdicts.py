"""A plan cell's checks: the run itself, each budget, the baseline comparison.

One :class:`Check` per thing a CI report shows as a test case. The verdict
words are data from the layers that decide them, the same words everywhere
(the run summary, ``sessions compare``, plan reports, JUnit, the window):
``Run`` for budgets (``pass``, ``fail``, ``inconclusive``) and
``console.session.compare`` for the baseline (the comparison's overall
verdict: ``regression``, ``improvement``, ``no change``, ``inconclusive``).
Only these count as failures: a run that did not complete for a reason of
its own (not a lost device), a budget ``fail`` (with ``strict_budgets``:
anything but ``pass``), and a ``regression`` against the baseline. An
``inconclusive`` budget or baseline is shown as not decided (``skipped``),
never as a pass; ``no change`` and ``improvement`` pass.

The baseline of a cell is the newest session that ran the same thing: same
device (name and address), package name, input (kind, description and
sha256) and agent settings, tagged ``[baseline] tag`` — or, with ``last =
"passed"``, the session of the same cell in the newest earlier run of the
same plan where that cell passed (``console.session.plan_log``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from console.core.plan import Cell, Plan
from console.core.store import LogStore
from console.core.verdicts import INCONCLUSIVE
from console.session import plan_log
from console.session.budgets import budget_unit
from console.session.compare import CompareError, compare_sessions
from console.session.identical import spread_words
from console.session.run import RunResult

#: the settings two sessions must share to be the same cell (the agent options)
SAME_SETTINGS = ("frames", "duration", "fps", "loop", "threads", "provider", "spin",
                 "graph_opt")
#: what a setting was before sessions recorded it (onnxruntime's default level)
_UNRECORDED = {"graph_opt": "all"}
#: baseline candidates looked at per cell (newest first)
BASELINE_CANDIDATES = 500


@dataclass(frozen=True)
class Check:
    """One verdict about a cell, as a CI test case: ``failed`` counts, ``skipped`` is
    shown only, neither is a pass. ``error``: the check could not be made (the device
    was lost)."""

    name: str
    verdict: str
    text: str
    failed: bool = False
    skipped: bool = False
    error: bool = False
    data: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["data"] = dict(self.data)
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Check:
        known = {k: d[k] for k in cls.__dataclass_fields__ if k in d}
        return cls(**known)


def _fmt(v: Any) -> str:
    return "unavailable" if v is None else f"{v:.4g}" if isinstance(v, float) else str(v)


def run_check(result: RunResult, lost: bool) -> Check:
    s = result.summary or {}
    data = {"session_id": result.session_id, "status": result.status,
            "frames": s.get("frames"), "fps": s.get("fps"), "error": result.error}
    sid = f"session {result.session_id}"
    if result.status == "completed":
        fps = s.get("fps")
        return Check("run", "pass", f"completed: {s.get('frames', 0)} frames"
                     + (f" at {fps:.1f} fps" if isinstance(fps, (int, float)) else "")
                     + f" ({sid})", data=data)
    if lost or result.status == "interrupted":
        return Check("run", result.status, f"device lost: {result.error} ({sid}, "
                     f"{s.get('frames', 0)} frames kept)", error=True, data=data)
    if result.status == "stopped":
        return Check("run", "stopped", f"stopped by the user ({sid})", skipped=True, data=data)
    return Check("run", result.status, f"run {result.status}: {result.error} ({sid}, "
                 f"{s.get('frames', 0)} frames)", failed=True, data=data)


def budget_checks(result: RunResult, strict: bool) -> list[Check]:
    out = []
    judged = result.status == "completed"
    for b in result.budget_verdicts:
        key = str(b.get("budget"))
        word = str(b.get("verdict"))
        unit = budget_unit(key)
        lo, hi = b.get("low"), b.get("high")
        iv = (f" [{_fmt(lo)}, {_fmt(hi)}]" if isinstance(lo, (int, float))
              and isinstance(hi, (int, float)) else "")
        why = f" — {b['reason']}" if b.get("reason") else ""
        text = (f"budget {key}: {_fmt(b.get('value'))}{iv} {unit} vs limit "
                f"{_fmt(b.get('limit'))} {unit}: {word}{why} (session {result.session_id})")
        failed = judged and (word == "fail" or (strict and word != "pass"))
        skipped = not failed and word != "pass"
        if not judged:
            text = f"budget {key}: not judged, the run did not complete"
            skipped = True
        data = dict(b) | {"session_id": result.session_id}
        out.append(Check(f"budget {key}", word, text, failed, skipped, data=data))
    return out


def _same_cell(cand: Mapping[str, Any], this: Mapping[str, Any]) -> bool:
    if any(cand.get(k) != this.get(k) for k in (
            "device_name", "device_address", "package_name", "input_kind", "input_desc",
            "input_sha256")):
        return False
    a, b = cand.get("settings") or {}, this.get("settings") or {}
    return all(a.get(k, _UNRECORDED.get(k)) == b.get(k, _UNRECORDED.get(k))
               for k in SAME_SETTINGS)


def tagged_baseline(store: LogStore, tag: str, session_id: int) -> int | None:
    """The newest completed session tagged ``tag`` that ran what ``session_id`` ran."""
    this = store.get_session(session_id)
    if this is None:
        return None
    for cand in store.list_sessions(tag=tag, status="completed", limit=BASELINE_CANDIDATES):
        if cand["id"] != session_id and cand.get("summary") and _same_cell(cand, this):
            return int(cand["id"])
    return None


def baseline_check(store: LogStore, plan: Plan, cell: Cell, run_id: int,
                   result: RunResult, tolerance: float | None) -> Check | None:
    bl = plan.baseline
    if bl is None:
        return None
    sid = result.session_id
    what = f"tag {bl.tag!r}" if bl.tag else "the last passing run of this cell"
    if sid is None or result.status != "completed":
        return Check("baseline", "skipped", f"baseline ({what}): not compared, the run did "
                     "not complete", skipped=True)
    base = tagged_baseline(store, bl.tag, sid) if bl.tag else \
        plan_log.last_passed_session(store, plan.name, cell, before_run_id=run_id)
    if base is None:
        return Check("baseline", "no baseline", f"baseline ({what}): none found for this "
                     "device, package, input and settings", skipped=True,
                     data={"session_id": sid})
    kw: dict[str, Any] = {} if tolerance is None else {"tolerance": tolerance}
    try:
        cmp = compare_sessions(store, base, sid, **kw)
    except CompareError as exc:
        return Check("baseline", "not compared", f"baseline session {base}: {exc}",
                     skipped=True, data={"session_id": sid, "baseline_session": base})
    worse = [f for f in cmp.figures if f.verdict == "regression"]
    data = {"session_id": sid, "baseline_session": base,
            "regressions": [f.line for f in worse],
            "figures": [f.line for f in cmp.headline()],
            "verdicts": {f.name: f.verdict for f in cmp.figures},
            # measured from the device's identical sessions, or assumed (session.identical)
            "run_noise": {k: v for k, v in cmp.run_noise.items() if k != "spread"}}
    if worse:
        names = "; ".join(f.line for f in worse[:2]) + (f" and {len(worse) - 2} more"
                                                        if len(worse) > 2 else "")
        return Check("baseline", "regression", f"regression vs session {base} ({what}): "
                     f"{names} (session {sid}){spread_words(cmp.run_noise)}", failed=True,
                     data=data)
    word = cmp.verdict  # improvement | no change | inconclusive (regression is above)
    # the overall word with the headline figures' intervals, so a report shows how sure
    heads = "; ".join(f.brief for f in cmp.headline())
    spread = spread_words(cmp.run_noise)
    return Check("baseline", word, f"session {sid} vs {base} ({what}): "
                 f"{cmp.verdict_line()}{spread}" + (f" — {heads}" if heads else ""),
                 skipped=word == INCONCLUSIVE, data=data)


def cell_checks(store: LogStore, plan: Plan, cell: Cell, run_id: int, result: RunResult,
                *, strict_budgets: bool = False, tolerance: float | None = None,
                lost: bool = False) -> list[Check]:
    """The run, each budget, and the baseline (when the plan has one), in that order."""
    checks = [run_check(result, lost), *budget_checks(result, strict_budgets)]
    bc = baseline_check(store, plan, cell, run_id, result, tolerance)
    if bc is not None:
        checks.append(bc)
    return checks


def display_verdict(verdict: str, checks: Sequence[Check | Mapping[str, Any]] = ()) -> str:
    """The word a cell is shown with (window grid, HTML report): its plan verdict (``pass``,
    ``fail``, ``not run``, ``pending``), except that a passing cell with an
    ``inconclusive`` check reads ``inconclusive`` — it did not fail, but a budget or the
    baseline could not decide (``--strict-budgets`` would have failed it)."""
    if verdict != "pass":
        return verdict
    for c in checks:
        word = c.verdict if isinstance(c, Check) else str(c.get("verdict"))
        if word == INCONCLUSIVE:
            return INCONCLUSIVE
    return "pass"


def undecided_text(checks: Sequence[Check | Mapping[str, Any]]) -> str:
    """The checks that could not decide, each with its figure, interval and reason (what
    "passed; not decided: …" lists in the terminal and the report)."""
    out = []
    for c in checks:
        word = c.verdict if isinstance(c, Check) else str(c.get("verdict"))
        if word == INCONCLUSIVE:
            out.append(c.text if isinstance(c, Check) else str(c.get("text") or c.get("name")))
    return "; ".join(out)
