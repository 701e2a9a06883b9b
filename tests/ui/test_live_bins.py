"""The live graphs' min/max time bins keep what a brute-force pass over the frames keeps.

Fed in display-timer batches that split bins at arbitrary places (the newest
bin is still filling when the next batch arrives), the bins must hold every
bin's true minimum and maximum and when they happened, so a one-frame spike
is drawn whatever the rate.
"""

from __future__ import annotations

import numpy as np

from console.ui.live.bins import FrameBins


def brute(t: np.ndarray, y: np.ndarray, width: float) -> dict[int, tuple[float, float]]:
    out: dict[int, tuple[float, float]] = {}
    for k in np.unique(np.floor(t / width).astype(int)):
        sel = np.floor(t / width).astype(int) == k
        out[int(k)] = (float(y[sel].min()), float(y[sel].max()))
    return out


def test_bins_fed_in_uneven_batches_keep_every_bins_min_and_max() -> None:
    rng = np.random.default_rng(7)
    t = np.sort(rng.uniform(0, 20, 20_000))
    y = np.column_stack([rng.normal(5, 0.3, t.size), rng.normal(1, 0.1, t.size)])
    y[12_345, 0] = 90.0  # one spike
    bins = FrameBins(0.3, 2)
    cuts = np.sort(rng.choice(np.arange(1, t.size), 57, replace=False))
    for a, b in zip(np.r_[0, cuts], np.r_[cuts, t.size]):
        bins.extend(t[a:b], y[a:b])
    assert not bins.stale
    for col in (0, 1):
        x, v = bins.curve(col, 0.0)
        want = brute(t, y[:, col], 0.3)
        got: dict[int, list[float]] = {}
        for xi, vi in zip(x, v):
            got.setdefault(int(np.floor(xi / 0.3)), []).append(float(vi))
        assert set(got) == set(want)
        for k, (lo, hi) in want.items():
            assert min(got[k]) == lo and max(got[k]) == hi, k
        assert np.all(np.diff(x) >= 0)  # in time order, never back
    x, v = bins.curve(0, 0.0)
    assert 90.0 in v and x[list(v).index(90.0)] == t[12_345]
    assert len(bins.curve(0, 0.0)[0]) <= 2 * len(want)


def test_a_window_takes_only_its_bins_and_frames_out_of_order_ask_for_a_rebuild() -> None:
    t = np.arange(0, 10, 0.01)
    y = np.column_stack([np.sin(t)])
    bins = FrameBins(0.5, 1)
    bins.extend(t, y)
    x, _v = bins.curve(0, 6.0)
    assert x.min() >= 6.0 and x.max() <= 10.0
    assert bins.first_t() == 0.0
    bins.extend(np.array([3.0]), np.array([[0.0]]))  # older than the newest bin
    assert bins.stale
