"""``plan check``: everything a plan needs, verified once, before anything runs.

:func:`check_plan` adds to the file's own problems (``console.core.plan``)
what needs the world: every device name known (saved, ``~/.ssh/config``,
URL, ``@group`` of an imported inventory), every package verified **once**
(hashes, the model loads, the signing policy) — the verification is kept
and handed to every cell's :class:`~console.session.run.Run` — every
recording and ground-truth file readable, every budget a known key in a
known unit, the baseline's tolerance a real one. Each problem is one line
naming the plan key and, where found, its line. Nothing connects to a
device here: reachability is the run's business (a device down at start is
"not run", not a refusal).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from console.core.inputs import InputError, parse_input
from console.core.package import Verification, verify_package
from console.core.plan import Cell, Plan, PlanProblem, locate, read_plan
from console.core.stats import load_truth
from console.devices.base import DeviceError
from console.devices.inventory import expand_devices
from console.session import trust
from console.session.budgets import BudgetError, parse_budget
from console.session.compare import parse_tolerance


@dataclass
class CheckedPlan:
    """A plan and what checking it found; ``ok`` means it may run."""

    path: Path
    plan: Plan | None
    problems: list[PlanProblem] = field(default_factory=list)
    #: the device list with groups expanded, in order, once each
    devices: list[str] = field(default_factory=list)
    #: by package path: the one verification every cell of that package reuses
    verifications: dict[str, Verification] = field(default_factory=dict)
    budgets: dict[str, float] = field(default_factory=dict)
    tolerance: float | None = None

    @property
    def ok(self) -> bool:
        return self.plan is not None and not self.problems

    @property
    def cells(self) -> list[Cell]:
        return self.plan.cells(self.devices) if self.plan is not None else []

    def lines(self) -> list[str]:
        return [p.render(self.path) for p in self.problems]

    def verification(self, package: str) -> Verification:
        """A copy of the package's verification for one run (the signing policy adds to
        its warnings; cells run in parallel)."""
        v = self.verifications[package]
        return replace(v, problems=list(v.problems), warnings=list(v.warnings))


def check_plan(path: str | Path, *,
               package_policy: Callable[[Verification], str | None] | None = None
               ) -> CheckedPlan:
    """Read and check the plan at ``path``; never raises for a bad plan (see ``problems``)."""
    p = Path(path)
    plan, problems = read_plan(p)
    out = CheckedPlan(p, plan, list(problems))
    if plan is None:
        return out
    text = plan.text
    add = out.problems.append
    try:
        out.devices, dev_problems = expand_devices(plan.devices)
    except DeviceError as exc:  # the settings file or ~/.ssh/config is unreadable
        add(PlanProblem("devices", str(exc), locate(text, "", "devices")))
        dev_problems = []
    for i, why in dev_problems:
        add(PlanProblem(f"devices[{i}]", why, locate(text, "", "devices", plan.devices[i])))

    policy = package_policy if package_policy is not None else trust.package_policy()
    raw_pk = _raw_list(text, "packages")
    for i, pkg in enumerate(plan.packages):
        line = locate(text, "", "packages", raw_pk[i] if i < len(raw_pk) else None)
        if not Path(pkg).exists():
            add(PlanProblem(f"packages[{i}]", f"no package at {pkg}", line))
            continue
        ver = verify_package(pkg)
        if not ver.ok:
            add(PlanProblem(f"packages[{i}]", f"package refused: {ver.first_line()}", line))
            continue
        refusal = policy(ver)
        if refusal:
            add(PlanProblem(f"packages[{i}]", refusal, line))
            continue
        out.verifications[pkg] = ver

    for i, inp in enumerate(plan.inputs):
        line = locate(text, "", "inputs", Path(inp.spec).name if inp.is_file else inp.spec)
        try:
            parse_input(inp.spec, hash_file=False)
        except InputError as exc:
            add(PlanProblem(f"inputs[{i}]", str(exc), line))
        if inp.truth is not None:
            try:
                load_truth(inp.truth)
            except (OSError, ValueError) as exc:
                add(PlanProblem(f"inputs[{i}].truth", f"ground-truth file unusable: {exc}",
                                line))

    for key, expr in plan.budgets.items():
        try:
            k, v = parse_budget(expr)
        except BudgetError as exc:
            add(PlanProblem(f"budgets.{key}", str(exc), locate(text, "budgets", key)))
            continue
        out.budgets[k] = v
    if plan.baseline is not None and plan.baseline.tolerance is not None:
        try:
            out.tolerance = parse_tolerance(plan.baseline.tolerance)
        except ValueError as exc:
            add(PlanProblem("baseline.tolerance", str(exc),
                            locate(text, "baseline", "tolerance")))
    return out


def _raw_list(text: str, key: str) -> list[str]:
    """The list ``key`` as written (for locating an item by its literal)."""
    from console.core.plan import tomllib

    try:
        v = tomllib.loads(text).get(key)
    except tomllib.TOMLDecodeError:
        return []
    return [x for x in v if isinstance(x, str)] if isinstance(v, list) else []
