"""An operator profile as terminal lines (``run --profile``, ``sessions show``).

Thin formatter over :class:`console.core.op_profile.OpProfile`: the figures
are computed there, the window and the HTML report show the same ones.
"""

from __future__ import annotations

from typing import Any

from console.core.op_profile import OpDelta, OpProfile

TOP_N = 10


def profile_lines(prof: OpProfile | None, top: int = TOP_N) -> list[str]:
    if prof is None:
        return []
    if not prof.available:
        return [f"operators   {prof.status}: {prof.text}"]
    att = prof.attributed()
    last = prof.first_frame + prof.frames - 1
    out = [f"operators   {len(prof.ops)} profiled over frames {prof.first_frame}-{last} "
           f"({prof.text})" + (f"; {att:.0%} of the inference time attributed"
                               if att is not None else "")]
    if prof.status == "partial":
        out.append("            partial: the input ended inside the profiled frames")
    out.append(f"  {'#':>2} {'node':<34} {'op type':<16} {'calls':>6} {'mean µs':>9} "
               f"{'total µs':>10} {'share':>6}  device")
    for k, o in enumerate(prof.ranked()[:top], 1):
        share = f"{o.share:.1%}" if o.share is not None else "-"
        out.append(f"  {k:>2} {o.node[:34]:<34} {o.op_type[:16]:<16} {o.calls:>6} "
                   f"{o.mean_us:>9.1f} {o.total_us:>10.0f} {share:>6}  {o.device}")
    if len(prof.ops) > top:
        out.append(f"     … {len(prof.ops) - top} more (devicelab sessions show ID --ops all)")
    types = prof.by_op_type()
    out.append("  by op type: " + ", ".join(
        f"{t.op_type} {t.share:.0%}" if t.share is not None else f"{t.op_type} {t.total_us:.0f} µs"
        for t in types[:8]))
    return out


def profile_json(prof: OpProfile | None) -> dict[str, Any] | None:
    if prof is None:
        return None
    return prof.meta() | {"ops": [o.__dict__ for o in prof.ranked()],
                          "by_op_type": [t.__dict__ for t in prof.by_op_type()]}


def delta_lines(deltas: list[OpDelta], top: int = 15) -> list[str]:
    """``sessions compare`` of two profiled sessions: which operators got slower."""
    if not deltas:
        return []
    out = ["operators (µs per profiled frame, A → B; a change under 10 % or 1 µs reads as same)",
           f"  {'operator':<40} {'kind':<8} {'A':>9} {'B':>9} {'B/A':>6}  verdict"]
    for d in deltas[:top]:
        a = f"{d.a_us:.1f}" if d.a_us is not None else "-"
        b = f"{d.b_us:.1f}" if d.b_us is not None else "-"
        r = f"{d.ratio:.2f}" if d.ratio is not None else "-"
        out.append(f"  {d.key[:40]:<40} {d.kind:<8} {a:>9} {b:>9} {r:>6}  {d.verdict}")
    slower = [d.key for d in deltas if d.verdict == "slower"]
    out.append("  slower in B: " + (", ".join(slower) if slower else "none"))
    return out
