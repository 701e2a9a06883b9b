"""Telemetry figures from a handful of samples, through the real command: two runs of the
demo at its default length (one pass of the recording: a fraction of a second, two or
three telemetry samples) compared with ``devicelab sessions compare --json``. Every
telemetry mean is ``inconclusive`` with its bounds, and says how many more samples —
counted at the session's own sampling period, ``--telemetry-ms`` — and seconds would
give it an interval."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
from helpers.recording import DEVICELAB, PKG, VIDEO

pytestmark = pytest.mark.slow

TELEMETRY = ("agent cpu mean", "system cpu mean", "agent memory mean")


def dl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([DEVICELAB, *args], capture_output=True, text=True, timeout=180)


def figures(db: Path, a: str, b: str) -> dict[str, dict[str, Any]]:
    res = dl("sessions", "compare", a, b, "--json", "--db", str(db))
    assert res.returncode == 0, res.stderr
    return {f["name"]: f for f in json.loads(res.stdout)["figures"]}


def test_a_few_telemetry_samples_say_how_many_more_would_decide(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    for ms in ("100", "100", "50"):  # the default 10 Hz twice, then 20 Hz
        res = dl("run", "--package", str(PKG), "--input", str(VIDEO), "--db", str(db),
                 "--quiet", "--json", "--telemetry-ms", ms)
        assert res.returncode == 0, res.stderr
        assert json.loads(res.stdout)["summary"]["telemetry"]["samples"] < 20  # a handful
    at_10hz = figures(db, "1", "2")
    for name in TELEMETRY:
        f = at_10hz[name]
        assert f["verdict"] == "inconclusive", f
        assert f["ci_low"] is not None and f["ci_high"] is not None  # its (range) bounds
        assert f["more_unit"] == "samples"
        # 10 windows of >= 1 s at 10 samples a second: ~100 more, ~10 s more
        assert 80 <= f["more_needed"] <= 130, f
        assert 9 <= f["more_seconds"] <= 11, f
        assert f"~{f['more_needed']} more samples (~" in f["reason"], f["reason"]
        assert f["reason"].endswith(name)
    # sampled twice as often: twice the samples for the same ten seconds
    at_20hz = figures(db, "1", "3")["agent cpu mean"]
    assert 170 <= at_20hz["more_needed"] <= 260, at_20hz
    # the text output shows the same, with the bounds marked as a range
    text = dl("sessions", "compare", "1", "2", "--db", str(db))
    line = next(ln for ln in text.stdout.splitlines() if ln.strip().startswith("agent cpu mean"))
    assert "inconclusive" in line and "[range " in line
    assert re.search(r"~\d+ more samples \(~\d+ s\)", line), line
