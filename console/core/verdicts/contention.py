"""Was the device busy with other work? Then its timings are not the package's.

A session's latency, frame rate, CPU share and heat depend on what else the
device ran: a board that also runs the customer's services, a lab machine
shared by other jobs. The run-to-run allowance (``figures.RUN_NOISE``) covers
the spread of identical sessions on a device in its usual state; it cannot
cover one session run on an idle device and the other beside a job that took
a core. Measured here with the bundled detector (docs/benchmarks.md): its
e2e median went from ~25 ms with 0.1 core of other work to ~150 ms with 1.5
cores, and 3 of 20 identical pairs were called regressions because of it (twice
"agent cpu mean": an agent that gets more of the CPU uses more of it).

The other work is read from each session's own telemetry, sample by sample:
the system's busy CPU (% of all cores, times the cores) less the agent's (% of
one core), i.e. the cores busy with anything but the agent — other processes,
and on "This computer" the console itself. When the two sessions' means differ
by more than :data:`OTHER_WORK_CORES`, the figures that depend on it are
``inconclusive`` with the reason, instead of a verdict laid on the package.
Memory, accuracy and output agreement do not depend on it and keep theirs.
Repeated sessions (``compare_groups``) measure the run-to-run spread instead
and are not touched.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

#: the difference in other work (cores, mean over the steady state) beyond which the
#: figures below are not laid on the package
OTHER_WORK_CORES = 0.25
#: fewer paired telemetry samples than this: the other work is not known
MIN_SAMPLES = 3
#: the figures the device's other work moves: every latency and rate, the cold start,
#: and the resources that are CPU or its heat
GROUPS = ("latency", "throughput", "cold_start")
RESOURCES = ("agent cpu mean", "system cpu mean", "mean temperature", "max temperature",
             "mean power", "energy per inference")


def other_work(cpu_sys: Any, cpu_agent: Any, cores: Any) -> float | None:
    """Mean cores busy with anything but the agent over the samples (None: unknown —
    no core count, or too few samples with both figures)."""
    if not isinstance(cores, (int, float)) or cores <= 0 or cpu_sys is None \
            or cpu_agent is None:
        return None
    s, a = np.asarray(cpu_sys, dtype=float), np.asarray(cpu_agent, dtype=float)
    if s.shape != a.shape:
        return None
    both = np.isfinite(s) & np.isfinite(a)
    if int(both.sum()) < MIN_SAMPLES:
        return None
    busy = s[both] * float(cores) / 100.0 - a[both] / 100.0
    return float(max(0.0, busy.mean()))


def differs(a: float | None, b: float | None) -> bool:
    """Whether the other work differed enough to hold the figures back (not when it is
    unknown on a side: then nothing is claimed either way)."""
    return a is not None and b is not None and abs(b - a) > OTHER_WORK_CORES


def figure_reason(a: float, b: float) -> str:
    """The reason on each figure held back (short: it is repeated on every one)."""
    return (f"the device was not equally free (other work {a:.2f} → {b:.2f} cores): not "
            "laid on the package")


def advice(a: float, b: float) -> str:
    """Said once, with the overall verdict."""
    return (f"the device was not equally free: other work took {b:.2f} cores in B against "
            f"{a:.2f} in A (more than {OTHER_WORK_CORES:g} apart), so timings and CPU are not "
            "laid on the package; run both with the device otherwise idle, or compare "
            "repeated sessions of each (A1,A2,A3 B1,B2,B3)")


def affected(name: str, group: str) -> bool:
    return group in GROUPS or (group == "resources" and name in RESOURCES)


def other_work_of(telemetry: Mapping[str, Any], cores: Any) -> float | None:
    """:func:`other_work` of a session's steady-state telemetry (``SessionData.telemetry``)."""
    from console.core import protocol as P

    return other_work(telemetry.get(P.CPU_SYS), telemetry.get(P.CPU_AGENT), cores)
