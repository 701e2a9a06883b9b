"""The plan file alone (console.core.plan): keys, types, impossible values, lines, cells."""

from __future__ import annotations

from pathlib import Path

import pytest

from console.core.plan import parse_plan, problems_error, read_plan

GOOD = """\
name = "nightly-digits"
devices  = ["local", "lab-pi", "ssh://qa@10.0.0.7"]
packages = ["pkgs/digits-cnn", "pkgs/digits-cnn-int8"]
inputs   = ["clips/digits-demo.avi", { path = "clips/b.avi", truth = "clips/b.csv" },
            "synthetic:64x64"]
[run]
frames = 2000
threads = [1, 2]
repeats = 2
[budgets]
p95 = "5ms"
cold_start = "1.5s"
[baseline]
tag = "release-1.4"
"""


def _problems(text: str, tmp_path: Path) -> dict[str, int | None]:
    _, problems = parse_plan(text, tmp_path / "plan.toml")
    return {p.key: p.line for p in problems}


def test_good_plan_expands_into_cells_device_by_device(tmp_path: Path) -> None:
    plan, problems = parse_plan(GOOD, tmp_path / "plan.toml")
    assert problems == []
    assert plan is not None
    # relative paths are relative to the plan file; other inputs are kept as written
    assert plan.packages[0] == str(tmp_path / "pkgs" / "digits-cnn")
    assert plan.inputs[1].spec == str(tmp_path / "clips" / "b.avi")
    assert plan.inputs[1].truth == str(tmp_path / "clips" / "b.csv")
    assert plan.inputs[2].spec == "synthetic:64x64" and not plan.inputs[2].is_file
    assert plan.budgets == {"p95": "p95=5ms", "cold_start": "cold_start=1.5s"}
    assert plan.baseline is not None and plan.baseline.tag == "release-1.4"
    cells = plan.cells()
    # 3 devices x 2 packages x 3 inputs x 2 thread settings x 2 repeats
    assert len(cells) == 72
    assert [c.idx for c in cells] == list(range(72))
    first = cells[:24]
    assert {c.device for c in first} == {"local"}  # one device's cells together
    assert [(c.settings["threads"], c.repeat) for c in first[:4]] == [(1, 1), (1, 2), (2, 1),
                                                                       (2, 2)]
    assert first[0].settings["frames"] == 2000
    assert first[0].label == "digits-cnn × digits-demo.avi [threads=1 repeat 1/2]"


@pytest.mark.parametrize("text, key, line", [
    ('name = "p"\ndevices = ["local"]\npackages = ["x"]\ninputs = ["a.avi"]\ncolour = 1\n',
     "colour", 5),
    ('name = "p"\ndevices = ["local"]\npackages = ["x"]\ninputs = ["a.avi"]\n[run]\n'
     'frames = 1\nfps = -3\n', "run.fps", 7),
    ('name = "p"\ndevices = ["local"]\npackages = ["x"]\ninputs = ["a.avi"]\n[run]\n'
     'framez = 10\n', "run.framez", 6),
    ('name = "p"\ndevices = ["local"]\npackages = ["x"]\ninputs = ["a.avi"]\n[run]\n'
     'repeats = 0\n', "run.repeats", 6),
    ('name = "p"\ndevices = ["local"]\npackages = ["x"]\ninputs = ["a.avi"]\n[run]\n'
     'threads = [1, 1]\n', "run.threads", 6),
    ('name = "p"\ndevices = ["local"]\npackages = ["x"]\ninputs = ["a.avi"]\n[run]\n'
     'spin = "sometimes"\n', "run.spin", 6),
    ('name = "p"\ndevices = ["local"]\npackages = ["x"]\ninputs = ["a.avi"]\n[run]\n'
     'loop = true\n', "run.loop", 6),
    ('name = "p"\ndevices = ["local"]\npackages = ["x"]\ninputs = ["camera:0"]\n', "inputs", 4),
    ('name = "p"\ndevices = ["local", "local"]\npackages = ["x"]\ninputs = ["a.avi"]\n',
     "devices[1]", 2),
    ('name = "p"\ndevices = []\npackages = ["x"]\ninputs = ["a.avi"]\n', "devices", 2),
    ('name = "has space"\ndevices = ["local"]\npackages = ["x"]\ninputs = ["a.avi"]\n',
     "name", 1),
    ('name = "p"\ndevices = ["local"]\npackages = ["x"]\ninputs = ["a.avi"]\n[baseline]\n'
     'tag = "r1"\nlast = "passed"\n', "baseline", 5),
    ('name = "p"\ndevices = ["local"]\npackages = ["x"]\ninputs = ["a.avi"]\n[baseline]\n'
     'last = "failed"\n', "baseline.last", 6),
    ('name = "p"\ndevices = ["local"]\npackages = ["x"]\ninputs = ["a.avi"]\n[budgets]\n'
     'p95 = true\n', "budgets.p95", 6),
])
def test_each_problem_names_its_key_and_line(text: str, key: str, line: int,
                                             tmp_path: Path) -> None:
    found = _problems(text, tmp_path)
    assert key in found, found
    assert found[key] == line


def test_a_looped_or_live_input_is_fine_with_a_limit(tmp_path: Path) -> None:
    text = ('name = "p"\ndevices = ["local"]\npackages = ["x"]\n'
            'inputs = ["camera:0", "a.avi"]\n[run]\nloop = true\nduration = 5\n')
    assert _problems(text, tmp_path) == {}


def test_toml_syntax_error_gives_the_parsers_line(tmp_path: Path) -> None:
    plan, problems = parse_plan('name = "p"\ndevices = ["local"\npackages = 3\n',
                                tmp_path / "plan.toml")
    assert plan is None
    assert len(problems) == 1 and problems[0].line == 3
    assert problems[0].render("plan.toml").startswith("plan.toml:3: (TOML syntax): ")


def test_missing_file_and_one_line_refusal(tmp_path: Path) -> None:
    plan, problems = read_plan(tmp_path / "nope.toml")
    assert plan is None and "no such plan file" in problems[0].text
    _, problems = parse_plan('name = "p"\ndevices = ["local"]\npackages = ["x"]\n'
                             'inputs = ["a.avi"]\nx = 1\ny = 2\n', tmp_path / "plan.toml")
    err = str(problems_error("plan.toml", problems))
    assert "\n" not in err and "(and 1 more: devicelab plan check plan.toml)" in err


def test_a_sweep_over_two_keys_is_their_product_in_file_order(tmp_path: Path) -> None:
    plan, problems = parse_plan('name = "p"\ndevices = ["a", "b"]\npackages = ["x"]\n'
                                'inputs = ["v.avi"]\n[run]\nfps = [10, 30]\nthreads = [1, 2, 4]\n',
                                tmp_path / "plan.toml")
    assert plan is not None and not problems
    st = [(c.settings["fps"], c.settings["threads"]) for c in plan.cells(["a"])]
    assert st == [(10.0, 1), (10.0, 2), (10.0, 4), (30.0, 1), (30.0, 2), (30.0, 4)]
    assert plan.swept == ("fps", "threads")
    assert len(plan.cells(["a", "b", "c"])) == 18


def test_the_documented_full_example_is_a_valid_plan() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "plans.md").read_text()
    example = doc.split("```toml\n", 1)[1].split("```", 1)[0]
    plan, problems = parse_plan(example, Path("plans") / "nightly.toml")
    assert problems == [] and plan is not None
    assert (plan.warmup, plan.repeats, plan.swept) == (200, 3, ("fps",))
    assert len(plan.cells()) == 4 * 2 * 2 * 2 * 3
