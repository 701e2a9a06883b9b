"""Output agreement of two sessions that ran the same recording: does B still answer as A did?

Frames are matched by index, each recorded frame counted once (a looped recording
repeats them). Classifiers: top-1 agreement with its Wilson interval, a confusion table
and the score differences; detectors: IoU-matched boxes, recall of A's boxes with its
interval, mean IoU. The statistics are :mod:`console.core.verdicts`'; this module only
reads the two sessions' outputs from the log. Used by :mod:`console.session.compare`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from console.core.store import LogStore
from console.core.verdicts import DEFAULT_LEVEL, box_agreement, class_agreement


@dataclass(frozen=True)
class Agreement:
    available: bool
    reason: str | None = None
    task: str | None = None
    #: distinct recorded frames compared (a looped recording counts each frame once)
    frames_compared: int = 0
    top1_agree: int | None = None
    top1_agreement: float | None = None
    top1_low: float | None = None
    top1_high: float | None = None
    #: first frame indices where the top-1 differs (at most 50)
    disagreeing_frames: list[int] = field(default_factory=list)
    #: A's class in rows, B's in columns
    labels: list[str] = field(default_factory=list)
    confusion: list[list[int]] = field(default_factory=list)
    score_diff_max: float | None = None
    score_diff_mean: float | None = None
    boxes_a: int | None = None
    boxes_b: int | None = None
    boxes_matched: int | None = None
    iou_mean: float | None = None
    #: share of A's boxes B found (IoU >= 0.5, same class), with its interval
    recall: float | None = None
    recall_low: float | None = None
    recall_high: float | None = None
    precision: float | None = None


def _distinct_limit(row: Mapping[str, Any]) -> int | None:
    """Frames of the recording when the session looped it (later frames repeat them)."""
    if not (row.get("settings") or {}).get("loop"):
        return None
    n = ((row.get("cold_start") or {}).get("input") or {}).get("frame_count")
    return int(n) if isinstance(n, int) and n > 0 else None


def _outputs(store: LogStore, sid: int, upto: int) -> dict[int, dict[str, Any]]:
    out: dict[int, dict[str, Any]] = {}
    for i, o in store.table_rows("frames", sid, ("i", "out")):
        if int(i) >= upto:
            break
        out[int(i)] = json.loads(o) if o else {}
    return out


def agreement(store: LogStore, a: Mapping[str, Any], b: Mapping[str, Any],
              level: float = DEFAULT_LEVEL) -> Agreement:
    """Frame-by-frame output agreement; only for the same recording (input sha256)."""
    ha, hb = a.get("input_sha256"), b.get("input_sha256")
    if not ha or not hb:
        kinds = {a.get("input_kind"), b.get("input_kind")} - {"video"}
        why = (f"a {'/'.join(sorted(str(k) for k in kinds))} input has no fixed frames"
               if kinds else "an input has no recorded sha256")
        return Agreement(False, f"outputs not compared: {why}")
    if ha != hb:
        return Agreement(False, f"outputs not compared: the inputs differ (sha256 {ha[:12]}… vs "
                                f"{hb[:12]}…)")
    task_a = (a.get("package_manifest") or {}).get("task")
    task_b = (b.get("package_manifest") or {}).get("task")
    if task_a != task_b:
        return Agreement(False, f"outputs not compared: tasks differ ({task_a} vs {task_b})")
    ia = store.frame_column(int(a["id"]), "i").astype(np.int64)
    ib = store.frame_column(int(b["id"]), "i").astype(np.int64)
    limits = [n for n in (_distinct_limit(a), _distinct_limit(b)) if n]
    common = np.intersect1d(ia, ib)
    if limits:
        common = common[common < min(limits)]
    if common.size == 0:
        return Agreement(False, "outputs not compared: no frame index is in both sessions",
                         task=task_a)
    upto = int(common.max()) + 1
    oa, ob = _outputs(store, int(a["id"]), upto), _outputs(store, int(b["id"]), upto)
    idx = [int(i) for i in common]
    if task_a == "classification":
        # the logged top-1 column is the answer (``out`` adds the scores)
        tops = []
        for row, ids in ((a, ia), (b, ib)):
            col = np.nan_to_num(store.frame_column(int(row["id"]), "top1"), nan=-1.0)
            tops.append(col[np.searchsorted(ids, common)].astype(np.int64).tolist())
        return _class_agreement(idx, tops[0], tops[1], oa, ob, level, task_a)
    if task_a == "detection":
        ba = box_agreement((((oa.get(i) or {}).get("boxes") or [],
                             (ob.get(i) or {}).get("boxes") or []) for i in idx), level)
        rec = ba.recall
        return Agreement(True, None, task_a, ba.frames, boxes_a=ba.boxes_a, boxes_b=ba.boxes_b,
                         boxes_matched=ba.matched, iou_mean=ba.iou_mean,
                         recall=rec.estimate if rec else None,
                         recall_low=rec.low if rec else None,
                         recall_high=rec.high if rec else None,
                         precision=ba.precision.estimate if ba.precision else None)
    return Agreement(False, f"outputs not compared: task {task_a!r} has no comparable output",
                     task=task_a)


def _class_agreement(idx: list[int], ta: list[int], tb: list[int], oa: Mapping[int, Any],
                     ob: Mapping[int, Any], level: float, task: str) -> Agreement:
    def top(o: Any) -> list[list[float]]:
        return (o or {}).get("top") or []

    sa = [{int(c): float(v) for c, v in top(oa.get(i))} for i in idx]
    sb = [{int(c): float(v) for c, v in top(ob.get(i))} for i in idx]
    ca = class_agreement(ta, tb, sa, sb, None, level)
    if ca.frames == 0:
        return Agreement(False, "outputs not compared: no frame has a top-1 in both",
                         task=task)
    diff_frames = [i for i, x, y in zip(idx, ta, tb) if x >= 0 and y >= 0 and x != y][:50]
    iv = ca.interval
    return Agreement(True, None, task, ca.frames, ca.agree, ca.agree / ca.frames,
                     iv.low if iv else None, iv.high if iv else None, diff_frames, ca.labels,
                     ca.confusion, ca.score_diff_max, ca.score_diff_mean)
