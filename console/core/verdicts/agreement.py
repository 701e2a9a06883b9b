"""Output agreement of two runs on the same recording (fp32 vs int8, two devices).

Agreement is a property of the pair, so its verdict is against a floor
rather than a difference: with ``t`` the relative practical threshold
(default 5 %), the pair is ``no change`` when the lower bound of the
agreement interval is at least ``1 - t``, ``regression`` when the upper
bound is below it, ``inconclusive`` otherwise.

Intervals are Wilson score intervals (Wilson 1927, *JASA* 22:209; Brown,
Cai & DasGupta 2001, *Statist. Sci.* 16:101 recommend it over the Wald
interval) from ``scipy.stats.binomtest(...).proportion_ci``, counted over
*distinct* recorded frames: a looped recording shows the same frames again,
and counting them twice would claim a certainty the recording cannot give.

For detectors boxes are matched one-to-one, same class, IoU >= 0.5,
highest IoU first (the PASCAL VOC rule, Everingham et al. 2010, *IJCV*
88:303); the verdict is on the recall of the reference's boxes.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from console.core.verdicts.blocks import Interval
from console.core.verdicts.rules import (
    DEFAULT_LEVEL,
    DEFAULT_RELATIVE,
    INCONCLUSIVE,
    NO_CHANGE,
    REGRESSION,
    FigureVerdict,
)

#: IoU from which two boxes of the same class are the same object.
MATCH_IOU = 0.5


def proportion_interval(k: int, n: int, level: float = DEFAULT_LEVEL) -> Interval | None:
    """Wilson interval of ``k`` successes in ``n`` trials (None when ``n`` is 0)."""
    if n <= 0:
        return None
    ci = sps.binomtest(int(k), int(n)).proportion_ci(confidence_level=level, method="wilson")
    return Interval(k / n, float(ci.low), float(ci.high), level, int(n), "wilson")


def proportion_difference(a: tuple[int, int], b: tuple[int, int],
                          level: float = DEFAULT_LEVEL
                          ) -> tuple[Interval, Interval, Interval] | None:
    """Two proportions ``(successes, trials)`` and the interval of B - A: Newcombe's hybrid
    score interval from the two Wilson intervals (Newcombe 1998, *Stat. Med.* 17:873,
    method 10)."""
    ia, ib = proportion_interval(*a, level), proportion_interval(*b, level)
    if ia is None or ib is None:
        return None
    d = ib.estimate - ia.estimate
    lo = d - math.hypot(ib.estimate - ib.low, ia.high - ia.estimate)
    hi = d + math.hypot(ib.high - ib.estimate, ia.estimate - ia.low)
    return ia, ib, Interval(d, lo, hi, level, min(a[1], b[1]), "newcombe")


def floor_verdict(name: str, iv: Interval | None, relative: float = DEFAULT_RELATIVE,
                  what: str = "frames agree") -> FigureVerdict:
    """A proportion that should be near 1 (agreement, recall) against ``1 - relative``."""
    if iv is None:
        return FigureVerdict(name, "ratio", "higher", None, None, None, None, None, None,
                             INCONCLUSIVE, "unavailable: nothing to compare")
    floor = 1.0 - relative
    lvl = f"{iv.level * 100:g} %"
    k = round(iv.estimate * iv.n)
    head = f"{k}/{iv.n} {what}"
    if iv.low >= floor:
        v, why = NO_CHANGE, f"{head}; at {lvl} confidence at least {floor * 100:g} %"
    elif iv.high < floor:
        v, why = REGRESSION, f"{head}; at {lvl} confidence below {floor * 100:g} %"
    else:
        need = _frames_for_floor(iv, floor)
        v = INCONCLUSIVE
        why = (f"{head}; the {lvl} interval [{iv.low * 100:.1f}, {iv.high * 100:.1f}] % "
               f"includes {floor * 100:g} %"
               + (f"; ~{need} distinct frames would decide" if need else ""))
    return FigureVerdict(name, "ratio", "higher", None, iv.estimate, None, None, iv.low,
                         iv.high, v, why, b_ci=iv, threshold=floor, level=iv.level,
                         method=iv.method, more_unit="distinct frames")


def _frames_for_floor(iv: Interval, floor: float) -> int | None:
    p = iv.estimate
    if abs(p - floor) < 1e-9:
        return None
    for n in (2 ** j * iv.n for j in range(1, 12)):
        ci = proportion_interval(round(p * n), n, iv.level)
        if ci is not None and (ci.low >= floor or ci.high < floor):
            return int(n)
    return None


@dataclass(frozen=True)
class ClassAgreement:
    """Top-1 agreement over distinct frames, a confusion table (A's class in rows, B's in
    columns) and the absolute score differences of classes both runs reported."""

    frames: int
    agree: int
    interval: Interval | None
    labels: list[str]
    confusion: list[list[int]]
    score_diff_max: float | None
    score_diff_mean: float | None
    scores_compared: int


def class_agreement(top_a: Sequence[int], top_b: Sequence[int],
                    scores_a: Sequence[dict[int, float]] | None = None,
                    scores_b: Sequence[dict[int, float]] | None = None,
                    labels: Sequence[str] | None = None,
                    level: float = DEFAULT_LEVEL) -> ClassAgreement:
    """``top_*`` per distinct frame (-1: no answer, left out); ``scores_*`` the class ->
    score pairs each run reported for that frame (its top-k)."""
    ta, tb = np.asarray(top_a, dtype=np.int64), np.asarray(top_b, dtype=np.int64)
    both = (ta >= 0) & (tb >= 0)
    n, agree = int(both.sum()), int((ta[both] == tb[both]).sum())
    n_cls = max(len(labels or ()), int(max(ta.max(initial=-1), tb.max(initial=-1))) + 1)
    table = np.zeros((n_cls, n_cls), dtype=np.int64)
    np.add.at(table, (ta[both], tb[both]), 1)
    diffs: list[float] = []
    if scores_a is not None and scores_b is not None:
        for sa, sb in zip(scores_a, scores_b):
            diffs += [abs(float(sa[c]) - float(sb[c])) for c in sa.keys() & sb.keys()]
    names = list(labels or ())
    names += [str(i) for i in range(len(names), n_cls)]
    return ClassAgreement(n, agree, proportion_interval(agree, n, level), names,
                          table.tolist(), max(diffs) if diffs else None,
                          float(np.mean(diffs)) if diffs else None, len(diffs))


def box_iou(a: Sequence[float], b: Sequence[float]) -> float:
    """IoU of two ``[x1, y1, x2, y2, …]`` boxes."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def match_boxes(boxes_a: Sequence[Sequence[float]], boxes_b: Sequence[Sequence[float]],
                min_iou: float = MATCH_IOU) -> list[float]:
    """Greedy one-to-one matching of same-class boxes (``[x1,y1,x2,y2,class,score]``),
    highest IoU first; returns the IoU of each matched pair."""
    pairs = []
    for ia, ba in enumerate(boxes_a):
        for ib, bb in enumerate(boxes_b):
            if len(ba) > 4 and len(bb) > 4 and int(ba[4]) != int(bb[4]):
                continue
            iou = box_iou(ba, bb)
            if iou >= min_iou:
                pairs.append((iou, ia, ib))
    pairs.sort(reverse=True)
    used_a: set[int] = set()
    used_b: set[int] = set()
    out = []
    for iou, ia, ib in pairs:
        if ia in used_a or ib in used_b:
            continue
        used_a.add(ia)
        used_b.add(ib)
        out.append(iou)
    return out


@dataclass(frozen=True)
class BoxAgreement:
    frames: int
    boxes_a: int
    boxes_b: int
    matched: int
    iou_mean: float | None
    #: share of A's (the reference's) boxes that B found, with its interval
    recall: Interval | None
    #: share of B's boxes that match one of A's
    precision: Interval | None


def box_agreement(frames: Iterable[tuple[Sequence[Sequence[float]], Sequence[Sequence[float]]]],
                  level: float = DEFAULT_LEVEL) -> BoxAgreement:
    """Per distinct frame, A's and B's boxes -> matched counts, recall and mean IoU."""
    n = na = nb = 0
    ious: list[float] = []
    for ba, bb in frames:
        n += 1
        na += len(ba)
        nb += len(bb)
        ious += match_boxes(ba, bb)
    m = len(ious)
    return BoxAgreement(n, na, nb, m, float(np.mean(ious)) if ious else None,
                        proportion_interval(m, na, level), proportion_interval(m, nb, level))
