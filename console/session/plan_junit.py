"""A plan run as JUnit XML, the format GitLab, Jenkins and GitHub test reporters read.

One ``<testsuite>`` per device, one ``<testcase>`` per cell and check: the
run itself, each budget, the baseline comparison. A failing check is a
``<failure>`` whose message and text carry the figures and the session id;
a device that was lost or unreachable makes an ``<error>`` (the test could
not be done — not a product failure); a stopped run, an ``inconclusive``
budget or baseline comparison (the data could not decide), a cell without
a baseline are ``<skipped>``. The words are the run summary's and ``sessions
compare``'s (``console.session.plan_verdicts``). Built from
the plan run as the log keeps it (:func:`console.session.plan_log.get_plan_run`),
so ``plan run --junit`` and ``plan show --junit`` write the same file.

The element and attribute names follow the common JUnit schema (the
``testsuites``/``testsuite``/``testcase`` layout of Ant's JUnit task that
these reporters parse); ``tests/plan`` reads the output back with
``junitparser``.
"""

from __future__ import annotations

import datetime as _dt
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any

from console.core.plan import Cell
from console.core.store import LogStore
from console.session.plan_log import cells_of
from console.session.plan_verdicts import Check


def _classname(plan: str, device: str) -> str:
    # Jenkins splits a classname at dots into package and class: keep the device one word
    return f"{plan}.{re.sub(r'[^A-Za-z0-9_-]+', '_', device).strip('_')}"


def _cell_label(cell: Mapping[str, Any], cells: Mapping[int, Cell]) -> str:
    known = cells.get(int(cell["idx"]))
    what = known.label if known is not None else f"{cell['package']} × {cell['input']}"
    return f"#{int(cell['idx']) + 1} {what}"


def _session_times(store: LogStore | None, sid: int | None) -> tuple[float, float | None]:
    if store is None or sid is None:
        return 0.0, None
    s = store.get_session(int(sid))
    if not s or not s.get("started_at"):
        return 0.0, None
    end = s.get("ended_at") or s["started_at"]
    return max(0.0, float(end) - float(s["started_at"])), float(s["started_at"])


def _details(check: Check) -> str:
    lines = [check.text]
    for k, v in sorted(check.data.items()):
        if isinstance(v, list):
            lines += [f"{k}:"] + [f"  {x}" for x in v]
        elif not isinstance(v, dict):
            lines.append(f"{k}: {v}")
    sid = check.data.get("session_id")
    if sid is not None:
        lines.append(f"details: devicelab sessions show {sid}")
    return "\n".join(lines)


def _checks_of(cell: Mapping[str, Any]) -> list[Check]:
    checks = [Check.from_dict(c) for c in cell.get("checks") or []]
    if checks:
        return checks
    verdict, reason = str(cell.get("verdict")), str(cell.get("reason") or "")
    if verdict == "pending":
        return [Check("run", "pending", "not finished: the console stopped before this cell "
                      "ended", error=True)]
    if reason.startswith(("the plan was stopped", "stopped by the user")):  # by a person
        return [Check("run", "not run", reason, skipped=True)]
    return [Check("run", "not run", reason or "not run", error=True)]


def junit_xml(run: Mapping[str, Any], store: LogStore | None = None) -> str:
    """The JUnit XML of a plan run (``get_plan_run``'s dict); ``store`` adds run times."""
    plan = str(run["name"])
    root = ET.Element("testsuites", name=f"plan {plan}")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    total_time = 0.0
    devices: dict[str, list[Mapping[str, Any]]] = {}
    for c in run["cells"]:
        devices.setdefault(str(c["device"]), []).append(c)
    known = cells_of(run)
    started = _dt.datetime.fromtimestamp(float(run["started_at"]), tz=_dt.timezone.utc)
    for device, cells in devices.items():
        suite = ET.SubElement(root, "testsuite", name=device,
                              timestamp=started.strftime("%Y-%m-%dT%H:%M:%S"))
        props = ET.SubElement(suite, "properties")
        for k, v in (("plan", plan), ("plan_run", run["uuid"]),
                     ("plan_sha256", run["plan_sha256"]), ("plan_path", run.get("plan_path")),
                     ("console_version", run.get("console_version"))):
            ET.SubElement(props, "property", name=k, value=str(v))
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        suite_time = 0.0
        for cell in cells:
            label = _cell_label(cell, known)
            took, _ = _session_times(store, cell.get("session_id"))
            suite_time += took
            for check in _checks_of(cell):
                case = ET.SubElement(suite, "testcase", classname=_classname(plan, device),
                                     name=f"{label} :: {check.name}",
                                     time=f"{took if check.name == 'run' else 0.0:.3f}")
                counts["tests"] += 1
                if check.failed:
                    el = ET.SubElement(case, "failure", message=check.text, type=check.verdict)
                    el.text = _details(check)
                    counts["failures"] += 1
                elif check.error:
                    el = ET.SubElement(case, "error", message=check.text, type="device")
                    el.text = _details(check)
                    counts["errors"] += 1
                elif check.skipped:
                    ET.SubElement(case, "skipped", message=check.text)
                    counts["skipped"] += 1
                sid = cell.get("session_id")
                if sid is not None:
                    ET.SubElement(case, "system-out").text = (
                        f"session {sid}: devicelab sessions show {sid}")
        for k, v in counts.items():
            suite.set(k, str(v))
            totals[k] += v
        suite.set("time", f"{suite_time:.3f}")
        total_time += suite_time
    for k, v in totals.items():
        root.set(k, str(v))
    # the devices ran side by side: the plan's time is its wall time, not the sum
    wall = (float(run["ended_at"]) - float(run["started_at"])) if run.get("ended_at") else \
        total_time
    root.set("time", f"{wall:.3f}")
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") \
        + "\n"
