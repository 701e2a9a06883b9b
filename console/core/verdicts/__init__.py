"""Verdicts a QA engineer can trust: every compared or budgeted figure with its interval.

What lives here (Qt-free; numpy + scipy):

* the words — :data:`VERDICTS` (``regression``, ``improvement``, ``no change``,
  ``inconclusive``) and :data:`BUDGET_VERDICTS` (``pass``, ``fail``,
  ``inconclusive``);
* :class:`Interval`, :class:`FigureVerdict`, :class:`BudgetVerdict`;
* the methods: a block bootstrap over time windows for steady-state figures
  (:mod:`.blocks`, why and references there), the practical threshold and
  the decision rules (:mod:`.rules`), output agreement with Wilson intervals,
  confusion tables and IoU box matching (:mod:`.agreement`), and the figure
  builders the session layer calls (:mod:`.figures`), and a device's run-to-run
  spread measured from identical sessions (:mod:`.noise`).

What must not: reading the session log (``console.session.compare`` and
``budgets`` load the data and call these), formatting for a terminal or a
window. The methods and their references are also in docs/sessions.md.
"""

from console.core.verdicts.agreement import (
    MATCH_IOU,
    BoxAgreement,
    ClassAgreement,
    box_agreement,
    box_iou,
    class_agreement,
    floor_verdict,
    match_boxes,
    proportion_difference,
    proportion_interval,
)
from console.core.verdicts.blocks import (
    MIN_WINDOWS,
    N_RESAMPLES,
    SEED,
    WINDOW_S,
    Interval,
    Windowed,
    iid_interval,
    windowed,
)
from console.core.verdicts.figures import (
    PERCENTILES,
    latency_figures,
    latency_intervals,
    mean_figure,
    mean_interval,
    min_obs_for,
    rate_figure,
    rate_interval,
)
from console.core.verdicts.noise import MIN_DF, MeasuredNoise, identity_key, measured_noise
from console.core.verdicts.rules import (
    ABSOLUTE_FLOORS,
    BUDGET_VERDICTS,
    DEFAULT_LEVEL,
    DEFAULT_RELATIVE,
    FAIL,
    IMPROVEMENT,
    INCONCLUSIVE,
    MIN_REPEATS,
    NO_CHANGE,
    PASS,
    REGRESSION,
    VERDICTS,
    BudgetVerdict,
    FigureVerdict,
    Threshold,
    check_budget,
    compare_repeated,
    counts_overall,
    decide,
    exact,
    fmt_count,
    more_needed,
    overall,
    overall_of_groups,
    threshold_for,
)

__all__ = [
    "ABSOLUTE_FLOORS",
    "BUDGET_VERDICTS",
    "DEFAULT_LEVEL",
    "DEFAULT_RELATIVE",
    "FAIL",
    "IMPROVEMENT",
    "INCONCLUSIVE",
    "MATCH_IOU",
    "MIN_DF",
    "MIN_REPEATS",
    "MIN_WINDOWS",
    "NO_CHANGE",
    "N_RESAMPLES",
    "PASS",
    "PERCENTILES",
    "REGRESSION",
    "SEED",
    "VERDICTS",
    "WINDOW_S",
    "BoxAgreement",
    "BudgetVerdict",
    "ClassAgreement",
    "FigureVerdict",
    "Interval",
    "MeasuredNoise",
    "Threshold",
    "Windowed",
    "box_agreement",
    "box_iou",
    "check_budget",
    "class_agreement",
    "compare_repeated",
    "counts_overall",
    "decide",
    "exact",
    "floor_verdict",
    "fmt_count",
    "identity_key",
    "iid_interval",
    "latency_figures",
    "latency_intervals",
    "match_boxes",
    "mean_figure",
    "mean_interval",
    "measured_noise",
    "min_obs_for",
    "more_needed",
    "overall",
    "overall_of_groups",
    "proportion_difference",
    "proportion_interval",
    "rate_figure",
    "rate_interval",
    "threshold_for",
    "windowed",
]
