"""How a user names a session, a plan run or a sweep: by id, or by a prefix of its uuid.

One rule for both tables, because the CLI prints ids and uuid prefixes side by
side and people paste either. A short all-digit reference is an id and nothing
else ("77" must never quietly match a uuid that starts with 77); a longer one
that is no id may be a uuid prefix, since one 8-character prefix in 27 is all
digits.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

#: the shortest all-digit reference that may also be read as a uuid prefix
MIN_DIGIT_UUID_PREFIX = 6
_HEX = frozenset("0123456789abcdef")

Read = Callable[[str, Sequence[Any]], Sequence[dict[str, Any]]]


def find_by_ref(read: Read, table: str, ref: str) -> dict[str, Any] | None:
    """The one row of ``table`` that ``ref`` names, or None (none, or ambiguous)."""
    r = ref.strip().lower()
    if not r:
        return None
    if r.isdigit():
        rows = read(f"SELECT * FROM {table} WHERE id = ?", [int(r)])
        if rows:
            return dict(rows[0])
        if len(r) < MIN_DIGIT_UUID_PREFIX:
            return None
    if not set(r) <= _HEX:
        return None
    rows = read(f"SELECT * FROM {table} WHERE uuid LIKE ? LIMIT 2", [r + "%"])
    return dict(rows[0]) if len(rows) == 1 else None
