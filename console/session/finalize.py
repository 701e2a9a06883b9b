"""The end of a session: its summary and budget verdicts, computed from the log itself.

One function for both ways a session ends: :class:`console.session.run.Run`
calls it as soon as the recorder has flushed; the spool's drain calls it for a
run that ended while its server log was away, once every row has reached the
server. Either way the summary is a recomputation from the rows the log holds
(frames the log failed to keep show up as missing), never from what a run
happened to see.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import nullcontext
from typing import Any

import numpy as np

from console.core import protocol as P
from console.core.stats import (
    DEFAULT_WARMUP,
    Warmup,
    WarmupError,
    load_truth,
    parse_warmup,
    summarize,
)
from console.core.store import LogStore, StoreError

#: Telemetry fields ``console.core.stats.summarize`` reads (the rest stays in the log).
SUMMARY_SAMPLE_KEYS = (P.CPU_SYS, P.CPU_AGENT, P.RSS, P.MEM_USED, P.THERMAL, P.ENERGY, P.POWER,
                       P.SAMPLER_CPU)


class FrameColumns(Mapping[str, np.ndarray]):
    """A session's frame columns, each read from the log when asked for.

    ``summarize`` looks at one latency stage at a time, so only one column
    (plus ``ts``) is in memory at once: 16 bytes a frame at the peak, once,
    at the end of the run.
    """

    _KEYS = ("ts", *P.STAGES, P.READ, "i", "top1")

    def __init__(self, store: LogStore, session_id: int) -> None:
        self._store = store
        self._sid = session_id

    def __getitem__(self, key: str) -> np.ndarray:
        if key not in self._KEYS:
            raise KeyError(key)
        return self._store.frame_column(self._sid, key)

    def __contains__(self, key: object) -> bool:  # without reading the column
        return key in self._KEYS

    def __iter__(self) -> Iterator[str]:
        return iter(self._KEYS)

    def __len__(self) -> int:
        return len(self._KEYS)


def summarize_session(store: LogStore, sid: int, *, truth: Mapping[int, int] | None,
                      cold: Mapping[str, Any] | None, agent_sent: int | None,
                      warmup: Warmup = DEFAULT_WARMUP) -> dict[str, Any]:
    """The summary of what the log holds for a session. Raises StoreError."""
    cols = FrameColumns(store, sid)
    samples = store.telemetry(sid, keys=SUMMARY_SAMPLE_KEYS)
    top1: list[int | None] | None = None
    idx: list[int] | None = None
    if truth is not None:
        idx = cols["i"].astype(np.int64).tolist()
        top1 = [None if v != v else int(v) for v in cols["top1"]]
    return summarize(cols, samples, cold=cold, top1=top1, truth=dict(truth) if truth else None,
                     frame_index=idx, agent_sent=agent_sent, warmup=warmup)


def _warmup(setting: Any) -> Warmup:
    try:
        return parse_warmup(str(setting)) if setting is not None else DEFAULT_WARMUP
    except WarmupError:
        return DEFAULT_WARMUP


def final_fields(store: LogStore, sid: int, row: Mapping[str, Any]) -> dict[str, Any]:
    """Summary and budget verdicts of a session that ended while its log was away, from
    its (decoded) session row: the truth file, budgets and cold start it recorded."""
    from console.session.budgets import add_budget_verdicts

    settings = row.get("settings") or {}
    truth = None
    if settings.get("truth"):
        try:
            truth = load_truth(str(settings["truth"]))
        except (OSError, ValueError):
            truth = None  # scored when it was there; a summary without accuracy otherwise
    try:
        summary = summarize_session(store, sid, truth=truth, cold=row.get("cold_start"),
                                    agent_sent=row.get("agent_sent"),
                                    warmup=_warmup(settings.get("warmup")))
    except StoreError:
        return {}
    manifest = ((row.get("package_manifest") or {}).get("manifest") or {})
    budgets = {**(manifest.get("budgets") or {}), **(settings.get("budgets") or {})}
    add_budget_verdicts(summary, budgets, sid, lambda: nullcontext(store))
    return {"summary": summary}
