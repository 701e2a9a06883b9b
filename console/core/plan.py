"""Test plans: one TOML file naming devices × packages × inputs × settings, and its cells.

A plan is what QA writes and reviews in a merge request (the format, with a
full example, is in ``docs/plans.md``)::

    name = "nightly-digits"
    devices  = ["local", "lab-pi", "ssh://qa@10.0.0.7", "@jetsons"]
    packages = ["resources/packages/digits-cnn"]
    inputs   = ["resources/recordings/digits-demo.avi"]
    [run]        # what `devicelab run` takes; a list sweeps that setting
    frames = 2000
    [budgets]    # the --budget syntax
    p95 = "5ms"
    [baseline]   # optional: tag = "release-1.4"  or  last = "passed"

A **cell** is one device × package × input × setting (× repeat): one run,
one session. Settings are the cartesian product of the ``[run]`` values
given as lists, in the order the file names them.

What lives here: reading the file (``tomllib``; ``tomli`` on Python 3.10),
the checks that need nothing but the file — unknown keys, wrong types,
impossible values, each one :class:`PlanProblem` naming the key and, where
it can be found, its line — and the expansion into :class:`Cell` objects.
What must not: anything that needs the world. Whether a package verifies,
a recording exists, a device name is known or a budget key is valid is
checked in the session layer (``console.session.plan_check``), which has the
package verifier, the device list and the budget parser. No Qt, no network,
no file but the plan itself.
"""

from __future__ import annotations

import hashlib
import itertools
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from console.core.errors import UserError
from console.core.inputs import STREAM_SCHEMES
from console.core.protocol import GRAPH_OPT_LEVELS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

TOP_KEYS = ("name", "description", "devices", "packages", "inputs", "run", "budgets",
            "baseline")
#: ``[run]`` keys that become agent options (a list value sweeps them).
AGENT_KEYS = ("frames", "duration", "fps", "loop", "threads", "provider", "spin",
              "graph_opt", "telemetry_ms", "preview_fps")
#: ``[run]`` keys the plan runner itself uses (one value each).
PLAN_RUN_KEYS = ("warmup", "repeats")
RUN_KEYS = AGENT_KEYS + PLAN_RUN_KEYS
BASELINE_KEYS = ("tag", "last", "tolerance")
#: the only value ``[baseline] last`` takes: the last passing run of the same cell
LAST_PASSED = "passed"
SPIN_VALUES = ("auto", "on", "off")
MAX_REPEATS = 100
MAX_CELLS = 10_000
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
#: Defaults of a plan cell: the CLI's ``devicelab run`` defaults (no previews headless).
RUN_DEFAULTS: dict[str, Any] = {"frames": 0, "duration": 0.0, "fps": 0.0, "loop": False,
                                "threads": 0, "provider": None, "spin": "auto",
                                "graph_opt": "all",
                                "telemetry_ms": 100.0, "preview_fps": 0.0}


class PlanError(UserError):
    """The plan cannot be used; one line (the first problem, and how many more)."""


@dataclass(frozen=True)
class PlanProblem:
    """One thing wrong with a plan: the key (``run.frames``, ``devices[2]``), its line."""

    key: str
    text: str
    line: int | None = None

    def render(self, path: str | Path) -> str:
        where = f"{path}:{self.line}" if self.line else f"{path}"
        return f"{where}: {self.key}: {self.text}"


@dataclass(frozen=True)
class PlanInput:
    """An input as the plan names it, resolved: ``spec`` is what ``parse_input`` reads."""

    spec: str
    truth: str | None = None
    #: True for a recording (a file: relative to the plan, hashed, uploaded)
    is_file: bool = False

    @property
    def label(self) -> str:
        return Path(self.spec).name if self.is_file else self.spec


@dataclass(frozen=True)
class Baseline:
    """What each cell is compared against: sessions tagged ``tag``, or the last passing
    run of the same cell (``last = "passed"``)."""

    tag: str | None = None
    last: str | None = None
    tolerance: str | None = None


@dataclass(frozen=True)
class Cell:
    """One run of a plan: device × package × input × setting × repeat."""

    idx: int
    device: str
    package: str
    input: PlanInput
    #: agent options of this cell (every :data:`AGENT_KEYS` key, defaults filled in)
    settings: Mapping[str, Any]
    repeat: int = 1
    repeats: int = 1
    #: the swept keys (those the plan gave as lists), for labels
    swept: tuple[str, ...] = ()

    @property
    def package_label(self) -> str:
        return Path(self.package).name

    @property
    def setting_label(self) -> str:
        parts = [f"{k}={self.settings[k]}" for k in self.swept]
        if self.repeats > 1:
            parts.append(f"repeat {self.repeat}/{self.repeats}")
        return " ".join(parts)

    @property
    def label(self) -> str:
        s = self.setting_label
        return f"{self.package_label} × {self.input.label}" + (f" [{s}]" if s else "")

    def record(self) -> dict[str, Any]:
        """What the log keeps of the cell's settings (``plan_cells.settings_json``)."""
        return dict(self.settings) | {"repeat": self.repeat}


@dataclass(frozen=True)
class Plan:
    name: str
    path: Path
    text: str
    sha256: str
    #: as written: saved names, aliases, URLs, ``@group``
    devices: tuple[str, ...]
    #: absolute paths (relative ones are relative to the plan file)
    packages: tuple[str, ...]
    inputs: tuple[PlanInput, ...]
    #: every ``[run]`` agent key given, each with its values (one value: not swept)
    run: Mapping[str, tuple[Any, ...]]
    #: ``[budgets]`` as ``KEY=VALUE`` texts for ``console.session.budgets.parse_budget``
    budgets: Mapping[str, str]
    baseline: Baseline | None
    warmup: int = 0
    repeats: int = 1
    description: str = ""
    swept: tuple[str, ...] = field(default=())

    def settings(self) -> list[dict[str, Any]]:
        """Every combination of the swept ``[run]`` values, defaults filled in."""
        keys = list(self.run)
        out = []
        for combo in itertools.product(*(self.run[k] for k in keys)):
            out.append(RUN_DEFAULTS | dict(zip(keys, combo)))
        return out

    def cells(self, devices: Sequence[str] | None = None) -> list[Cell]:
        """The cells, device by device; on one device package, input, setting, repeat
        in the plan's order. ``devices``: the expanded device names (groups resolved);
        the plan's own list when None."""
        out: list[Cell] = []
        settings = self.settings()
        for dev in devices if devices is not None else self.devices:
            for pkg, inp, st in itertools.product(self.packages, self.inputs, settings):
                for r in range(1, self.repeats + 1):
                    out.append(Cell(len(out), dev, pkg, inp, st, r, self.repeats, self.swept))
        return out


# -- reading -------------------------------------------------------------------------
def locate(text: str, table: str, key: str | None = None, item: Any = None) -> int | None:
    """The 1-based line of ``key`` in ``[table]`` ("" = top level), or of the table
    header when ``key`` is None; with ``item``, of that list item's literal after the
    key. Best effort (tomllib gives no positions): None when not found."""
    lines = text.splitlines()
    current = ""
    key_line: int | None = None
    for n, raw in enumerate(lines, 1):
        s = raw.strip()
        m = re.match(r"^\[\[?\s*([^\]]+?)\s*\]\]?", s)
        if m:
            current = m.group(1).strip().strip('"')
            if key is None and current == table:
                return n
            continue
        if key is None:
            continue
        k = re.escape(key)
        if current == table:
            pattern = rf'^\s*(?:{k}|"{k}")\s*='
        elif current == "" and table:  # a dotted key at the top: run.frames = 1
            pattern = rf"^\s*{re.escape(table)}\.{k}\s*="
        else:
            continue
        if re.match(pattern, raw):
            key_line = n
            break
    if key_line is None or item is None:
        return key_line
    lit = f'"{item}"' if isinstance(item, str) else str(item)
    for n in range(key_line, min(len(lines), key_line + 200) + 1):
        if lit in lines[n - 1]:
            return n
    return key_line


def _is_file_input(text: str) -> bool:
    t = text.strip()
    return not (t.startswith("synthetic") or re.match(r"^(camera:\d+|/dev/video\d+)$", t)
                or t.lower().startswith(STREAM_SCHEMES))


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _run_value_problem(key: str, v: Any) -> str | None:
    """Why ``v`` cannot be the ``[run]`` value of ``key`` (None when it can)."""
    if key in ("frames", "threads", "warmup", "repeats"):
        if not _is_int(v):
            return f"must be a whole number, not {v!r}"
        if key == "repeats" and not 1 <= v <= MAX_REPEATS:
            return f"must be 1..{MAX_REPEATS}, not {v}"
        if key == "threads" and v > 256:
            return f"{v} threads is not a real setting (0 = onnxruntime's default)"
        if v < 0:
            return f"must not be negative ({v})"
        return None
    if key in ("duration", "fps", "telemetry_ms", "preview_fps"):
        if not _is_num(v):
            return f"must be a number, not {v!r}"
        if v != v or v in (float("inf"), float("-inf")):
            return f"must be a finite number, not {v!r}"
        if v < 0:
            return f"must not be negative ({v})"
        if key == "telemetry_ms" and v < 10:
            return f"must be at least 10 ms ({v})"
        if key == "fps" and v > 10_000:
            return f"{v} fps is not a real pacing (0 = as fast as possible)"
        return None
    if key == "loop":
        return None if isinstance(v, bool) else f"must be true or false, not {v!r}"
    if key == "provider":
        return None if isinstance(v, str) and v.strip() else \
            f"must be an execution provider name, e.g. \"CPUExecutionProvider\", not {v!r}"
    if key == "spin":
        return None if v in SPIN_VALUES else f"must be one of {', '.join(SPIN_VALUES)}, not {v!r}"
    if key == "graph_opt":
        return None if v in GRAPH_OPT_LEVELS else \
            f"must be one of {', '.join(GRAPH_OPT_LEVELS)}, not {v!r}"
    return None


def _str_list(data: Mapping[str, Any], key: str, text: str, problems: list[PlanProblem]
              ) -> list[Any]:
    v = data.get(key)
    if v is None:
        problems.append(PlanProblem(key, "missing: list at least one", None))
        return []
    if not isinstance(v, list) or not v:
        problems.append(PlanProblem(key, "must be a non-empty list, e.g. "
                                    f'{key} = ["…"]', locate(text, "", key)))
        return []
    return v


def parse_plan(text: str, path: str | Path) -> tuple[Plan | None, list[PlanProblem]]:
    """The plan in ``text`` (read from ``path``) and every problem found in it.

    The plan is None when a problem makes it meaningless (bad TOML, no
    devices…); otherwise it is returned with the problems so a check can
    go on to the packages and devices and report everything at once.
    """
    p = Path(path)
    base = p.resolve().parent
    problems: list[PlanProblem] = []
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        msg = str(exc)
        m = re.search(r"\(at line (\d+), column \d+\)", msg)
        return None, [PlanProblem("(TOML syntax)", re.sub(r"\s*\(at line.*\)$", "", msg),
                                  int(m.group(1)) if m else None)]
    for k in data:
        if k not in TOP_KEYS:
            problems.append(PlanProblem(k, f"unknown key; known: {', '.join(TOP_KEYS)}",
                                        locate(text, "", k) or locate(text, k)))

    name = data.get("name")
    if not isinstance(name, str) or not _NAME_RE.match(name):
        problems.append(PlanProblem("name", "missing or not usable: letters, digits, '.', '_' "
                                    "and '-', at most 64, e.g. name = \"nightly-digits\"",
                                    locate(text, "", "name")))
        name = p.stem
    description = data.get("description", "")
    if not isinstance(description, str):
        problems.append(PlanProblem("description", "must be a string",
                                    locate(text, "", "description")))
        description = ""

    devices: list[str] = []
    for i, d in enumerate(_str_list(data, "devices", text, problems)):
        if not isinstance(d, str) or not d.strip():
            problems.append(PlanProblem(f"devices[{i}]", f"must be a device name, alias, "
                                        f"ssh:// URL or @group, not {d!r}",
                                        locate(text, "", "devices", d)))
        elif d.strip() in devices:
            problems.append(PlanProblem(f"devices[{i}]", f"{d!r} is listed twice",
                                        locate(text, "", "devices", d)))
        else:
            devices.append(d.strip())

    packages: list[str] = []
    for i, pk in enumerate(_str_list(data, "packages", text, problems)):
        if not isinstance(pk, str) or not pk.strip():
            problems.append(PlanProblem(f"packages[{i}]", f"must be a package path, not {pk!r}",
                                        locate(text, "", "packages", pk)))
            continue
        full = str((base / Path(pk).expanduser()).resolve())
        if full in packages:
            problems.append(PlanProblem(f"packages[{i}]", f"{pk!r} is listed twice",
                                        locate(text, "", "packages", pk)))
        else:
            packages.append(full)

    inputs: list[PlanInput] = []
    for i, item in enumerate(_str_list(data, "inputs", text, problems)):
        truth: str | None = None
        spec = item
        if isinstance(item, dict):
            extra = sorted(set(item) - {"path", "truth"})
            if extra:
                problems.append(PlanProblem(f"inputs[{i}].{extra[0]}", "unknown key; an input "
                                            "table takes path and truth",
                                            locate(text, "", "inputs", extra[0])))
            spec, truth = item.get("path"), item.get("truth")
            if truth is not None and (not isinstance(truth, str) or not truth.strip()):
                problems.append(PlanProblem(f"inputs[{i}].truth", "must be the path of a "
                                            "'frame,label' CSV file", locate(text, "", "inputs")))
                truth = None
        if not isinstance(spec, str) or not spec.strip():
            problems.append(PlanProblem(f"inputs[{i}]", "must be a recording path, camera:N, "
                                        "a stream URL or synthetic[:WxH] (or { path = …, "
                                        f"truth = … }}), not {item!r}",
                                        locate(text, "", "inputs")))
            continue
        is_file = _is_file_input(spec)
        if is_file:
            spec = str((base / Path(spec.strip()).expanduser()).resolve())
        if truth is not None:
            truth = str((base / Path(truth).expanduser()).resolve())
        inputs.append(PlanInput(spec.strip(), truth, is_file))

    run, warmup, repeats, swept = _parse_run(data.get("run", {}), text, problems)
    _check_endings(run, inputs, text, problems)

    budgets: dict[str, str] = {}
    raw_b = data.get("budgets", {})
    if not isinstance(raw_b, dict):
        problems.append(PlanProblem("budgets", "must be a table: [budgets] then p95 = \"5ms\"",
                                    locate(text, "", "budgets")))
        raw_b = {}
    for k, v in raw_b.items():
        if isinstance(v, bool) or not isinstance(v, (str, int, float)):
            problems.append(PlanProblem(f"budgets.{k}", f"must be a value like \"5ms\", not "
                                        f"{v!r}", locate(text, "budgets", k)))
            continue
        budgets[k] = f"{k}={v}"

    baseline = _parse_baseline(data.get("baseline"), text, problems)
    plan = Plan(name=name, path=p, text=text,
                sha256=hashlib.sha256(text.encode("utf-8")).hexdigest(),
                devices=tuple(devices), packages=tuple(packages), inputs=tuple(inputs),
                run=run, budgets=budgets, baseline=baseline, warmup=warmup, repeats=repeats,
                description=description, swept=swept)
    n = len(devices) * len(packages) * len(inputs) * len(plan.settings()) * repeats
    if n > MAX_CELLS:
        problems.append(PlanProblem("run", f"the plan has {n} cells, more than {MAX_CELLS}: "
                                    "sweep fewer values", locate(text, "run")))
    if not devices or not packages or not inputs:
        return None, problems
    return plan, problems


def _parse_run(raw: Any, text: str, problems: list[PlanProblem]
               ) -> tuple[dict[str, tuple[Any, ...]], int, int, tuple[str, ...]]:
    run: dict[str, tuple[Any, ...]] = {}
    swept: list[str] = []
    warmup, repeats = 0, 1
    if not isinstance(raw, dict):
        problems.append(PlanProblem("run", "must be a table: [run] then frames = 2000",
                                    locate(text, "", "run")))
        return run, warmup, repeats, ()
    for k, v in raw.items():
        line = locate(text, "run", k)
        if k not in RUN_KEYS:
            problems.append(PlanProblem(f"run.{k}", f"unknown key; known: {', '.join(RUN_KEYS)}",
                                        line))
            continue
        values = v if isinstance(v, list) else [v]
        if k in PLAN_RUN_KEYS and isinstance(v, list):
            problems.append(PlanProblem(f"run.{k}", "takes one value, not a list", line))
            continue
        if not values:
            problems.append(PlanProblem(f"run.{k}", "an empty list sweeps nothing", line))
            continue
        bad = [why for why in (_run_value_problem(k, x) for x in values) if why]
        if bad:
            problems.append(PlanProblem(f"run.{k}", bad[0], line))
            continue
        if len(set(map(repr, values))) != len(values):
            problems.append(PlanProblem(f"run.{k}", "a value is listed twice", line))
            continue
        if k == "warmup":
            warmup = int(v)
        elif k == "repeats":
            repeats = int(v)
        else:
            run[k] = tuple(float(x) if k in ("duration", "fps", "telemetry_ms", "preview_fps")
                           else x for x in values)
            if isinstance(v, list):
                swept.append(k)
    return run, warmup, repeats, tuple(swept)


def _check_endings(run: Mapping[str, tuple[Any, ...]], inputs: Sequence[PlanInput], text: str,
                   problems: list[PlanProblem]) -> None:
    """A cell must end by itself: a recording ends, a camera, stream, synthetic source or
    a looped recording only at a frame or time limit."""
    unbounded = 0 in run.get("frames", (0,)) and 0.0 in run.get("duration", (0.0,))
    if not unbounded:
        return
    if True in run.get("loop", ()):
        problems.append(PlanProblem("run.loop", "a looped recording with neither frames nor "
                                    "duration never ends: set run.frames or run.duration",
                                    locate(text, "run", "loop")))
    for inp in inputs:
        if not inp.is_file:
            problems.append(PlanProblem("inputs", f"{inp.spec} never ends by itself: set "
                                        "run.frames or run.duration", locate(text, "", "inputs",
                                                                            inp.spec)))


def _parse_baseline(raw: Any, text: str, problems: list[PlanProblem]) -> Baseline | None:
    if raw is None:
        return None
    line = locate(text, "baseline")
    if not isinstance(raw, dict):
        problems.append(PlanProblem("baseline", "must be a table: [baseline] then tag = \"…\" "
                                    "or last = \"passed\"", locate(text, "", "baseline")))
        return None
    for k in raw:
        if k not in BASELINE_KEYS:
            problems.append(PlanProblem(f"baseline.{k}", "unknown key; known: "
                                        f"{', '.join(BASELINE_KEYS)}", locate(text, "baseline", k)))
    tag, last, tol = raw.get("tag"), raw.get("last"), raw.get("tolerance")
    if (tag is None) == (last is None):
        problems.append(PlanProblem("baseline", "give exactly one of tag = \"…\" or "
                                    f"last = \"{LAST_PASSED}\"", line))
        return None
    if tag is not None and (not isinstance(tag, str) or not tag.strip()):
        problems.append(PlanProblem("baseline.tag", "must be a session tag, e.g. "
                                    "\"release-1.4\"", locate(text, "baseline", "tag")))
        return None
    if last is not None and last != LAST_PASSED:
        problems.append(PlanProblem("baseline.last", f"the only value is \"{LAST_PASSED}\" "
                                    "(the last passing run of the same cell)",
                                    locate(text, "baseline", "last")))
        return None
    if tol is not None and (isinstance(tol, bool) or not isinstance(tol, (str, int, float))):
        problems.append(PlanProblem("baseline.tolerance", "must be like \"10%\"",
                                    locate(text, "baseline", "tolerance")))
        tol = None
    return Baseline(tag=tag.strip() if isinstance(tag, str) else None, last=last,
                    tolerance=None if tol is None else str(tol))


def read_plan(path: str | Path) -> tuple[Plan | None, list[PlanProblem]]:
    """:func:`parse_plan` of the file at ``path`` (the only IO of this module)."""
    p = Path(path).expanduser()
    try:
        text = p.read_bytes().decode("utf-8")
    except FileNotFoundError:
        return None, [PlanProblem("(file)", "no such plan file")]
    except OSError as exc:
        return None, [PlanProblem("(file)", f"cannot read the plan: {exc.strerror}")]
    except UnicodeDecodeError:
        return None, [PlanProblem("(file)", "not UTF-8 text: a plan is a TOML file")]
    return parse_plan(text, p)


def problems_error(path: str | Path, problems: Sequence[PlanProblem]) -> PlanError:
    """One line for a refusal: the first problem, and how to see the others."""
    first = problems[0].render(path)
    more = len(problems) - 1
    return PlanError(first + (f" (and {more} more: devicelab plan check {path})" if more else ""))
