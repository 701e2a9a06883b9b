"""``devicelab sessions compare`` and ``sessions matrix``: the two commands that read many
sessions at once and print verdicts (the statistics live in ``console.session.compare``
and ``console.core.verdicts``; this module only lays them out)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from console.cli import EXIT_FAILED, CliError, add_db_argument
from console.cli.format import fmt_num
from console.cli.log_access import add_session_filters, open_store, parse_since, subcommand

COMPARE_EXAMPLE = """example:
  devicelab sessions compare 12 13
  devicelab sessions compare 12 13 --tolerance 10% --fail-on-regression
  devicelab sessions compare 12 13 --json
  devicelab sessions compare 12,14,16 13,15,17   (repeated sessions: decided over sessions)
  devicelab sessions compare 12 13 -o fp32-vs-int8.html

A is the reference, B the candidate. Every figure has a 95 % confidence interval
and a verdict: regression, improvement, no change, or inconclusive (the data
cannot tell; the line says how many more frames would). A change counts only
when its whole interval is beyond the threshold: --tolerance (default 5 %) of
A or 0.05 ms for latencies, whichever is larger. Top-1 agreement (or the recall
of A's boxes) is computed frame by frame when both sessions ran the same recording.
The run-to-run part of each interval is measured from the sessions in the log
identical to A or B (same device, package, input, settings; 5 or more of one
side), else assumed wide (the shared lab VMs' spread); the output says which.
exit status: 0 no regression (or no --fail-on-regression), 1 a regression with
--fail-on-regression (inconclusive figures do not fail), 2 bad input."""

MATRIX_EXAMPLE = """example:
  devicelab sessions matrix
  devicelab sessions matrix --since 30d --json

Rows: device (model, OS, kernel); columns: package x onnxruntime x provider;
each cell the latest session's p95, FPS and budget verdict, and its id."""


def register(ps: Any) -> None:
    cp = subcommand(ps, "compare", "compare session B against session A", COMPARE_EXAMPLE)
    cp.add_argument("a", help="reference session id (or uuid prefix); A1,A2,… for repeated "
                              "sessions")
    cp.add_argument("b", help="candidate session id (or uuid prefix); B1,B2,… for repeated "
                              "sessions")
    cp.add_argument("--tolerance", default="5%",
                    help="practical threshold: the smallest relative change that matters "
                         "(default 5%%; latencies at least 0.05 ms)")
    cp.add_argument("--fail-on-regression", action="store_true",
                    help="exit 1 if any figure is a regression (its whole interval beyond "
                         "the threshold)")
    cp.add_argument("--json", action="store_true", help="print the comparison as JSON")
    cp.add_argument("-o", "--output", metavar="PATH",
                    help="also write the comparison as .html (with plots) or .json")
    add_db_argument(cp)
    cp.set_defaults(func=cmd_compare)

    mx = subcommand(ps, "matrix", "compatibility matrix: devices x packages, from the log",
              MATRIX_EXAMPLE)
    mx.add_argument("--since", help="only sessions newer than: 30m, 12h, 7d or YYYY-MM-DD")
    add_session_filters(mx)
    mx.add_argument("--json", action="store_true")
    add_db_argument(mx)
    mx.set_defaults(func=cmd_matrix)


def _short(v: Any) -> str:
    t = "-" if v is None else (json.dumps(v) if isinstance(v, (dict, list)) else str(v))
    if len(t) == 64 and all(c in "0123456789abcdef" for c in t):
        return t[:16] + "…"
    return t if len(t) <= 60 else t[:57] + "…"


def comparison_lines(cmp: Any) -> list[str]:
    """The terminal rendering of a :class:`console.session.compare.Comparison`."""
    from console.session.compare import fmt_value

    out = []
    for lab, h in (("A", cmp.a), ("B", cmp.b)):
        out.append(f"{lab}  session {h.id}  {h.title} on {h.device} — {h.input} "
                   f"({h.frames} frames, {h.status})")
    if cmp.sessions_a:
        out.append(f"repeated sessions: A {', '.join(map(str, cmp.sessions_a))}; B "
                   f"{', '.join(map(str, cmp.sessions_b))} — each figure decided over "
                   "sessions (Welch interval)")
    out.append("warm-up left out of the steady-state figures: "
               + ", ".join(f"{lab} {h.warmup_frames} frames ({h.warmup_s:.2f} s)"
                           for lab, h in (("A", cmp.a), ("B", cmp.b))))
    out.append("differences")
    if not cmp.differences:
        out.append("  none: same device, package, input and settings")
    for d in cmp.differences:
        out.append(f"  {d.section + ' ' + d.field:<22} {_short(d.a)} → {_short(d.b)}")
    out.append(f"figures (B vs A: change [{cmp.level * 100:g} % interval], threshold "
               f"{cmp.tolerance * 100:g} % or 0.05 ms)")
    for f in cmp.figures:
        if f.group == "agreement":
            continue
        out.append(f"  {f.name:<21} {fmt_value(f.a, f.unit):>14} → {fmt_value(f.b, f.unit):>14}"
                   f"   {f.text}")
    out.append("output agreement (frame by frame, each recorded frame once)")
    ag = cmp.agreement
    if not ag.available:
        out.append(f"  {ag.reason}")
    for f in cmp.figures:
        if f.group == "agreement":
            out.append(f"  {f.name:<21} {fmt_value(f.b, f.unit):>14}   {f.text}")
    if ag.score_diff_max is not None:
        out.append(f"  score difference      max {ag.score_diff_max:.4g}, mean "
                   f"{ag.score_diff_mean:.4g} (classes both reported)")
    if ag.iou_mean is not None:
        out.append(f"  matched-IoU mean      {ag.iou_mean:.3f} over {ag.boxes_matched} boxes")
    swaps = [(ag.labels[i], ag.labels[j], n) for i, row in enumerate(ag.confusion)
             for j, n in enumerate(row) if i != j and n]
    if swaps:
        swaps.sort(key=lambda t: -t[2])
        out.append("  top-1 changes (A → B): " + ", ".join(
            f"{x} → {y} ×{n}" for x, y, n in swaps[:10]) + (" …" if len(swaps) > 10 else ""))
    if ag.disagreeing_frames:
        shown = ", ".join(str(i) for i in ag.disagreeing_frames[:20])
        out.append(f"  frames with another top-1: {shown}"
                   + (" …" if len(ag.disagreeing_frames) > 20 else ""))
    if cmp.spread_line():
        out.append(cmp.spread_line())
    out.append(f"verdict: {cmp.verdict_line()}")
    return out


def cmd_compare(args: argparse.Namespace) -> int:
    from console.cli.profile_format import delta_lines
    from console.session.compare import (
        compare_groups,
        compare_sessions,
        parse_tolerance,
    )
    from console.session.export import export_comparison
    from console.session.profiles import operator_deltas

    try:
        tol = parse_tolerance(args.tolerance)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    refs_a, refs_b = (r.split(",") for r in (args.a, args.b))
    repeated = len(refs_a) > 1 or len(refs_b) > 1
    if repeated and args.output:
        raise CliError("-o takes one session per side; compare repeated sessions "
                       "(A1,A2,… B1,B2,…) on the terminal or with --json")
    with open_store(args) as store:
        if repeated:
            cmp = compare_groups(store, refs_a, refs_b, tolerance=tol)
        elif args.output:
            cmp, _ = export_comparison(store, args.a, args.b, args.output, tolerance=tol)
        else:
            cmp = compare_sessions(store, args.a, args.b, tolerance=tol)
        ops = [] if repeated else operator_deltas(store, args.a, args.b)
    if args.json:
        print(json.dumps(cmp.to_dict() | ({"operators": [d.__dict__ | {"ratio": d.ratio}
                                                         for d in ops]} if ops else {}),
                         indent=2, default=str))
    else:
        for line in comparison_lines(cmp) + delta_lines(ops):
            print(line)
    if args.output:
        print(f"wrote {args.output}", file=sys.stderr)
    return EXIT_FAILED if args.fail_on_regression and cmp.regressions else 0


# -- matrix --------------------------------------------------------------------------
def cmd_matrix(args: argparse.Namespace) -> int:
    from console.session.matrix import build_matrix

    with open_store(args) as store:
        m = build_matrix(store, since=parse_since(args.since), device=args.device,
                         package=args.package)
    if args.json:
        print(json.dumps(m.to_dict(), indent=2))
        return 0
    if not m.cells:
        print("no ended sessions match: the matrix is empty")
        return 0
    print("rows (device · model · OS · kernel)")
    for r, device in enumerate(m.rows):
        print(f"  ({_row_key(r)}) {device.label}")
    print("columns (package · runtime and version · provider / device)")
    for k, col in enumerate(m.columns, 1):
        print(f"  [{k}] {col.label}")
    width = 34
    print("      " + "".join(f"{'[' + str(k) + ']':<{width}}"
                            for k in range(1, len(m.columns) + 1)).rstrip())
    for r in range(len(m.rows)):
        line = f"({_row_key(r)})".ljust(6)
        for c in range(len(m.columns)):
            cell = m.cell(r, c)
            if cell is None:
                text = "-"
            else:
                verdict = {"none": "no budget"}.get(cell.budget, cell.budget.upper())
                status = "" if cell.status == "completed" else f" {cell.status.upper()}"
                text = (f"{fmt_num(cell.p95_ms, '.2f', 'ms')} {fmt_num(cell.fps, '.0f', 'fps')}"
                        f" {verdict}{status} #{cell.session_id}")
            line += f"{text:<{width}}"
        print(line.rstrip())
    print("cells: latest session's e2e p95, FPS, budget verdict, #session id "
          "(devicelab sessions show ID)")
    return 0


def _row_key(r: int) -> str:
    """a, b, … z, aa, ab, …: short row names for the grid."""
    out = ""
    r += 1
    while r:
        r, rem = divmod(r - 1, 26)
        out = chr(97 + rem) + out
    return out
