"""Per-operator profiles as typed records: what the CLI, the window and the report show.

A profile is what a runtime's own profiler saw over the profiled frames of a
run (``devicelab run --profile N``): one :class:`OpStat` per node, with its
share of the agent's measured inference time over those frames. This module
only computes — ranking, the per-op-type breakdown, the comparison of two
profiles — from rows read elsewhere (``console.session.profiles``), so every
view formats the same figures. No Qt, no store.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from console.core.protocol import ProfileHeader

#: a node at least this much slower (ratio) and by at least MIN_DELTA_US per frame is "slower"
SLOWER_RATIO = 1.10
MIN_DELTA_US = 1.0


@dataclass(frozen=True)
class OpStat:
    node: str
    op_type: str
    device: str
    calls: int
    total_us: float
    mean_us: float
    #: fraction of the profiled inference time, 0..1 (None: not known)
    share: float | None
    run_order: int = 0


@dataclass(frozen=True)
class OpProfile(ProfileHeader):
    """The profile as every view shows it: its header (``meta()`` is the
    ``sessions.profile`` JSON; the rows go to ``op_profiles``) and its operators."""

    ops: tuple[OpStat, ...] = field(default_factory=tuple)

    @property
    def available(self) -> bool:
        return self.status != "unavailable" and bool(self.ops)

    def ranked(self) -> list[OpStat]:
        """Slowest first (total time over the profiled frames)."""
        return sorted(self.ops, key=lambda o: (-o.total_us, o.run_order))

    def in_run_order(self) -> list[OpStat]:
        return sorted(self.ops, key=lambda o: (o.run_order, o.node))

    def per_frame_us(self, op: OpStat) -> float:
        return op.total_us / self.frames if self.frames else op.total_us

    def attributed(self) -> float | None:
        """Fraction of the inference time the profiler attributes to operators."""
        shares = [o.share for o in self.ops if o.share is not None]
        return sum(shares) if shares else None

    def by_op_type(self) -> list[OpTypeStat]:
        """Operators summed by type, slowest first."""
        acc: dict[str, list[Any]] = {}
        for o in self.ops:
            a = acc.setdefault(o.op_type, [0, 0, 0.0, 0.0])
            a[0] += 1
            a[1] += o.calls
            a[2] += o.total_us
            a[3] += o.share or 0.0
        rows = [OpTypeStat(t, a[0], a[1], a[2], a[3] if self.infer_ms else None)
                for t, a in acc.items()]
        return sorted(rows, key=lambda r: -r.total_us)


@dataclass(frozen=True)
class OpTypeStat:
    op_type: str
    nodes: int
    calls: int
    total_us: float
    share: float | None


def build_profile(meta: Mapping[str, Any], rows: Iterable[Sequence[Any]]) -> OpProfile:
    """A profile from its meta and rows ``(node, op_type, device, calls, total_us, order)``;
    mean and share computed here, the one place."""
    infer_us = float(meta.get("infer_ms") or 0.0) * 1000.0
    ops = []
    for node, op_type, device, calls, total, order in rows:
        calls = int(calls or 0)
        total = float(total or 0.0)
        ops.append(OpStat(str(node), str(op_type or "?"), str(device or ""), calls, total,
                          total / calls if calls else 0.0,
                          total / infer_us if infer_us > 0 else None, int(order or 0)))
    return OpProfile(str(meta.get("runtime") or ""), str(meta.get("status") or "ok"),
                     str(meta.get("text") or ""), int(meta.get("first_frame") or 0),
                     int(meta.get("frames") or 0), float(meta.get("infer_ms") or 0.0),
                     tuple(ops))


# -- two profiles -------------------------------------------------------------------------
_FAMILY_PREFIX = re.compile(r"^(QLinear|Q(?=[A-Z][a-z])|Nhwc|Fused|Quantized)")


def op_family(op_type: str) -> str:
    """The operator a runtime's variant stands for: QLinearConv, NhwcMaxPool -> Conv, MaxPool."""
    return _FAMILY_PREFIX.sub("", op_type) or op_type


@dataclass(frozen=True)
class OpDelta:
    #: the node name, or the op family for nodes the two models name differently
    key: str
    kind: str  # "node" | "op type"
    a_us: float | None  # per profiled frame
    b_us: float | None
    verdict: str  # slower | faster | same | only in A | only in B

    @property
    def ratio(self) -> float | None:
        return self.b_us / self.a_us if self.a_us and self.b_us is not None else None


def _verdict(a: float | None, b: float | None) -> str:
    if a is None:
        return "only in B"
    if b is None:
        return "only in A"
    if b > a * SLOWER_RATIO and b - a >= MIN_DELTA_US:
        return "slower"
    if a > b * SLOWER_RATIO and a - b >= MIN_DELTA_US:
        return "faster"
    return "same"


def compare_profiles(a: OpProfile, b: OpProfile) -> list[OpDelta]:
    """Per-frame operator time of B against A, biggest change first.

    Nodes both models name alike are compared one to one; the rest (a quantized
    model's nodes are not the float model's) by op family, summed. A profile is a
    sum over its frames, so there is no interval here: a change under 10 % or under
    1 µs per frame reads as "same"."""
    an = {o.node: a.per_frame_us(o) for o in a.ops}
    bn = {o.node: b.per_frame_us(o) for o in b.ops}
    common = [n for n in an if n in bn]
    out = [OpDelta(n, "node", an[n], bn[n], _verdict(an[n], bn[n])) for n in common]
    fam_a: dict[str, float] = {}
    fam_b: dict[str, float] = {}
    for prof, fam in ((a, fam_a), (b, fam_b)):
        for o in prof.ops:
            if o.node not in common:
                k = op_family(o.op_type)
                fam[k] = fam.get(k, 0.0) + prof.per_frame_us(o)
    for k in sorted(set(fam_a) | set(fam_b)):
        va, vb = fam_a.get(k), fam_b.get(k)
        out.append(OpDelta(k, "op type", va, vb, _verdict(va, vb)))
    return sorted(out, key=lambda d: -abs((d.b_us or 0.0) - (d.a_us or 0.0)))
