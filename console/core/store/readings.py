"""Reading what one session recorded: its frames as columns, its telemetry, events and
bookmarks, and how many of each.

A mixin of :class:`~console.core.store.base.LogStore` (both engines read the same way).
Frames come back under their protocol names (``ts``, ``e2e``), as the agent sent them;
telemetry under its sample keys, events and bookmarks as dicts by today's column names.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterator
from typing import Any

import numpy as np

from console.core.store.rows import FRAME_COLUMN_OF, FRAME_COLUMNS


class SessionReadsMixin:
    """Needs ``_read``, ``_scalar``, ``_write`` and ``table_rows`` of the store."""

    _read: Any
    _scalar: Any
    _write: Any
    _execute: Any
    _fail: Any
    table_rows: Any

    def frame_count(self, session_id: int) -> int:
        return int(self._scalar("SELECT COUNT(*) FROM frames WHERE session_id=?", [session_id]))

    def telemetry_count(self, session_id: int) -> int:
        return int(self._scalar("SELECT COUNT(*) FROM telemetry WHERE session_id=?",
                                [session_id]))

    def event_count(self, session_id: int) -> int:
        return int(self._scalar("SELECT COUNT(*) FROM events WHERE session_id=?",
                                [session_id]))

    def first_frame_ts(self, session_id: int) -> float | None:
        return self._scalar("SELECT MIN(ts_unix_s) FROM frames WHERE session_id=?",
                            [session_id])

    def frame_arrays(self, session_id: int) -> dict[str, np.ndarray]:
        """Frame figures as arrays by their protocol names (ordered by frame index)."""
        keys = ("i", "ts", "pre", "infer", "post", "e2e", "top1")
        cols = ", ".join(FRAME_COLUMN_OF[k] for k in keys)
        try:
            rows = self._execute(f"SELECT {cols} FROM frames WHERE session_id=? ORDER BY i",
                                 [session_id]).fetchall()
        except Exception as exc:
            raise self._fail(exc) from None
        if not rows:
            return {c: np.zeros(0) for c in keys}
        arr = np.array([[(-1 if v is None else v) for v in r] for r in rows], dtype=np.float64)
        out = {c: arr[:, k] for k, c in enumerate(keys)}
        out["i"] = out["i"].astype(np.int64)
        out["top1"] = out["top1"].astype(np.int64)
        return out

    def frame_column(self, session_id: int, name: str) -> np.ndarray:
        """One numeric frame figure (protocol name: ``e2e``, ``read_ms``…) as float64,
        ordered by index; NULL reads as NaN.

        Read in chunks into one preallocated array, so a multi-million-frame
        session costs 8 bytes a frame here, not a Python object per value.
        """
        column = FRAME_COLUMN_OF.get(name)
        if column is None:
            raise ValueError(f"not a numeric frame figure: {name!r}")
        try:
            n = self.frame_count(session_id)
            out = np.empty(n, dtype=np.float64)
            cur = self._execute(f"SELECT {column} FROM frames WHERE session_id=? ORDER BY i",
                                [session_id])
            k = 0
            while k < n:
                rows = cur.fetchmany(min(65536, n - k))
                if not rows:
                    break
                out[k:k + len(rows)] = [np.nan if r[0] is None else r[0] for r in rows]
                k += len(rows)
            cur.close()
        except Exception as exc:
            raise self._fail(exc) from None
        return out[:k]

    def iter_frames(self, session_id: int) -> Iterator[dict[str, Any]]:
        """Frames by their protocol names (``ts``, ``e2e``, ``out`` decoded), in order."""
        names = {v: k for k, v in FRAME_COLUMN_OF.items()}
        cols = FRAME_COLUMNS
        for r in self.table_rows("frames", session_id, cols):
            f = {names.get(c, c): v for c, v in zip(cols, r)}
            f["out"] = json.loads(f["out"]) if f.get("out") else None
            yield f

    def telemetry(self, session_id: int, keys: Collection[str] | None = None
                  ) -> list[dict[str, Any]]:
        """Telemetry samples with ``ts`` added, oldest first.

        ``keys`` keeps only those fields of each sample (a long session's
        full samples are a few KB each; a summary needs a handful of fields).
        """
        out = []
        for ts, sample in self.table_rows("telemetry", session_id,
                                          ("ts_unix_s", "sample_json")):
            s = json.loads(sample) if sample else {}
            if keys is not None:
                s = {k: s[k] for k in keys if k in s}
            s["ts"] = ts
            out.append(s)
        return out

    def events(self, session_id: int) -> list[dict[str, Any]]:
        return self._read("SELECT ts_unix_s AS ts, level, code, text FROM events "
                          "WHERE session_id=? ORDER BY ts_unix_s", [session_id])

    def bookmarks(self, session_id: int) -> list[dict[str, Any]]:
        return self._read("SELECT id, session_id, frame_i, ts_unix_s AS ts, note, "
                          "created_unix_s AS created_at FROM bookmarks WHERE session_id=? "
                          "ORDER BY COALESCE(frame_i, 0), ts_unix_s", [session_id])
