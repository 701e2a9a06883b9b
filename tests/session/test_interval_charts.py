"""The HTML comparison's error-bar charts: each interval drawn where it is, coloured by
its verdict, the threshold as a band, an axis that a tiny reference cannot blow up."""

from __future__ import annotations

import re

from console.session.export.interval_charts import (
    CHANGE_CLIP_PCT,
    VERDICT_COLORS,
    Change,
    Whisker,
    changes_chart,
    estimates_chart,
)


def _xs(svg: str, color: str) -> list[tuple[float, float]]:
    """(x1, x2) of every whisker line of ``color``."""
    out = []
    for g in re.findall(rf'<g class="whisker" stroke="{color}"[^>]*>(.*?)</g>', svg):
        m = re.search(r'<line x1="([\d.]+)" x2="([\d.]+)"', g)
        assert m
        out.append((float(m.group(1)), float(m.group(2))))
    return out


def test_changes_chart_draws_each_interval_in_its_verdict_colour_with_the_band() -> None:
    svg = changes_chart("changes", [
        Change("e2e p95", "regression", 0.30, 0.22, 0.38, 0.05),
        Change("fps", "no change", 0.01, -0.02, 0.03, 0.05),
        Change("e2e p99", "inconclusive", 0.10, -0.20, 0.40, 0.05)])
    reg, same, unsure = (_xs(svg, VERDICT_COLORS[v])
                         for v in ("regression", "no change", "inconclusive"))
    assert len(reg) == len(same) == len(unsure) == 1
    # the regression's whole interval lies right of the no-change one's
    assert reg[0][0] > same[0][1]
    # the unsure interval spans both: wider than either
    assert unsure[0][0] < same[0][0] and unsure[0][1] > reg[0][0]
    assert svg.count('class="band"') == 3 and 'class="zero"' in svg
    assert "clipped" not in svg


def test_a_huge_relative_change_is_clipped_not_squashing_the_rest() -> None:
    svg = changes_chart("changes", [Change("read p50", "inconclusive", 80.0, 1.0, 200.0, 0.5),
                                    Change("e2e p95", "no change", 0.0, -0.02, 0.02, 0.05)])
    assert f"clipped at ±{CHANGE_CLIP_PCT:g}" in svg
    assert "<path d=" in svg  # the arrow at the edge
    (x1, x2), = _xs(svg, VERDICT_COLORS["no change"])
    assert x2 - x1 > 3  # still readable at this scale


def test_estimates_chart_and_what_cannot_be_drawn() -> None:
    svg = estimates_chart("e2e", [("p95", Whisker("A", 1.0, 0.9, 1.1, "#111111"),
                                   Whisker("B", 2.0, 1.8, 2.2, "#222222")),
                                  ("p99", None, Whisker("B", 3.0, None, None, "#222222"))],
                          unit="ms")
    a, b = _xs(svg, "#111111"), _xs(svg, "#222222")
    assert len(a) == 1 and len(b) == 1 and b[0][0] > a[0][1]  # B's interval is wholly higher
    assert svg.count("<circle") == 3  # p99 of B: a dot without an interval
    empty = estimates_chart("e2e", [("p95", None, None)], unit="ms")
    assert "unavailable" in empty and "<circle" not in empty
