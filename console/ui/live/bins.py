"""Min/max time bins of the live frame history, kept up to date as frames arrive (no Qt).

Why: thinning the whole visible slice on every display tick costs the GUI
thread O(frames in the window) per tick — 240 000 frames per stage for a
flat-out device (4 000 frames/s) in the default 60 s window, 30 times a
second, and it grows with the run. Here each frame is looked at once, when
it arrives: it lands in a bin ``width`` seconds wide that keeps, per column,
the minimum and the maximum and when they happened. A tick then draws two
points per bin, O(bins), whatever the rate.

The points are those ``console.core.series.minmax_decimate`` keeps (each
bin's min and max in the order they happened, so a one-frame spike is still
drawn), with buckets of equal time rather than of equal count. NaN is "no
value": it never wins a min or a max; a bin with nothing but NaN draws NaN.
"""

from __future__ import annotations

import math

import numpy as np


class FrameBins:
    """Bins of ``width`` seconds over time-ordered frames; ``columns`` values per frame."""

    def __init__(self, width_s: float, columns: int, keep: int = 600) -> None:
        self.width = float(width_s)
        self.columns = columns
        #: bins kept (the oldest go first); enough for the window they were sized for
        self.keep = max(8, keep)
        self._cap = 0
        self._n = 0
        self._key = np.empty(0, dtype=np.int64)
        self._lo_v = self._lo_t = self._hi_v = self._hi_t = np.empty((0, columns))
        self._alloc(256)
        #: frames arrived out of time order: the owner must rebuild from its history
        self.stale = False

    def _alloc(self, cap: int) -> None:
        k = self.columns
        old = (self._key, self._lo_v, self._lo_t, self._hi_v, self._hi_t) if self._cap else None
        self._key = np.empty(cap, dtype=np.int64)
        self._lo_v, self._lo_t, self._hi_v, self._hi_t = (np.empty((cap, k)) for _ in range(4))
        if old is not None:
            n = self._n
            for new, prev in zip((self._key, self._lo_v, self._lo_t, self._hi_v, self._hi_t),
                                 old):
                new[:n] = prev[:n]
        self._cap = cap

    def __len__(self) -> int:
        return self._n

    def clear(self) -> None:
        self._n = 0
        self.stale = False

    def extend(self, t: np.ndarray, values: np.ndarray) -> None:
        """Add frames: times ``t`` (n,), non-decreasing, and ``values`` (n, columns)."""
        n = len(t)
        if not n:
            return
        b = np.floor(t / self.width).astype(np.int64)
        if (self._n and b[0] < self._key[self._n - 1]) or (n > 1 and (np.diff(b) < 0).any()):
            self.stale = True
            return
        starts = np.flatnonzero(np.r_[True, b[1:] != b[:-1]])
        keys = b[starts]
        with np.errstate(invalid="ignore"):
            lo = np.fmin.reduceat(values, starts, axis=0)
            hi = np.fmax.reduceat(values, starts, axis=0)
        group = np.repeat(np.arange(len(starts)), np.diff(np.r_[starts, n]))
        idx = np.arange(n)[:, None]
        lo_at = np.minimum.reduceat(np.where(values == lo[group], idx, n), starts, axis=0)
        hi_at = np.minimum.reduceat(np.where(values == hi[group], idx, n), starts, axis=0)
        lo_at = np.where(lo_at == n, starts[:, None], lo_at)  # a bin of NaN only
        hi_at = np.where(hi_at == n, starts[:, None], hi_at)
        lo_t, hi_t = t[lo_at], t[hi_at]
        if self._n and keys[0] == self._key[self._n - 1]:
            j = self._n - 1  # the newest bin was still filling: merge into it
            old_lo, old_hi = self._lo_v[j], self._hi_v[j]
            take_lo = (lo[0] < old_lo) | (np.isnan(old_lo) & ~np.isnan(lo[0]))
            take_hi = (hi[0] > old_hi) | (np.isnan(old_hi) & ~np.isnan(hi[0]))
            self._lo_v[j] = np.where(take_lo, lo[0], old_lo)
            self._lo_t[j] = np.where(take_lo, lo_t[0], self._lo_t[j])
            self._hi_v[j] = np.where(take_hi, hi[0], old_hi)
            self._hi_t[j] = np.where(take_hi, hi_t[0], self._hi_t[j])
            keys, lo, hi, lo_t, hi_t = keys[1:], lo[1:], hi[1:], lo_t[1:], hi_t[1:]
        m = len(keys)
        if not m:
            return
        if self._n + m > 2 * self.keep:  # drop the oldest, keep `keep` (amortised O(1))
            drop = max(0, self._n + m - self.keep)
            drop = min(drop, self._n)
            for a in (self._key, self._lo_v, self._lo_t, self._hi_v, self._hi_t):
                a[:self._n - drop] = a[drop:self._n]
            self._n -= drop
        if self._n + m > self._cap:
            self._alloc(max(2 * self._cap, self._n + m))
        s = slice(self._n, self._n + m)
        self._key[s], self._lo_v[s], self._hi_v[s] = keys, lo, hi
        self._lo_t[s], self._hi_t[s] = lo_t, hi_t
        self._n += m

    def first_t(self) -> float | None:
        """The start of the oldest bin kept (None: no bins)."""
        return float(self._key[0]) * self.width if self._n else None

    def curve(self, column: int, t_from: float, t_to: float | None = None
              ) -> tuple[np.ndarray, np.ndarray]:
        """The points of ``column`` for bins overlapping [t_from, t_to]: each bin's min and
        max in the order they happened (one point where they are the same frame)."""
        keys = self._key[:self._n]
        k0 = int(np.searchsorted(keys, math.floor(t_from / self.width), side="left"))
        k1 = (self._n if t_to is None else
              int(np.searchsorted(keys, math.floor(t_to / self.width), side="right")))
        lt, lv = self._lo_t[k0:k1, column], self._lo_v[k0:k1, column]
        ht, hv = self._hi_t[k0:k1, column], self._hi_v[k0:k1, column]
        lo_first = lt <= ht
        x = np.empty(2 * len(lt))
        y = np.empty(2 * len(lt))
        x[0::2] = np.where(lo_first, lt, ht)
        y[0::2] = np.where(lo_first, lv, hv)
        x[1::2] = np.where(lo_first, ht, lt)
        y[1::2] = np.where(lo_first, hv, lv)
        keep = np.ones(len(x), dtype=bool)
        keep[1::2] = lt != ht
        return x[keep], y[keep]
