"""A newcomer's first commands (issue 17), through the real ``devicelab`` subprocess.

- a missing (or unreadable) ground-truth file is refused in the console's words,
  not Python's ``[Errno 2] No such file or directory``;
- a run shorter than the progress interval (5 s when stderr is not a terminal)
  still prints its final frame count and rate, not only the first frame's line;
- ``devicelab gui`` takes ``--fps recording`` and ``--loop`` (what scripts/run
  passes) and refuses a frame rate that is no number in one line.

(The ``locla`` → "did you mean 'local'?" case is tests/ssh/test_spec.py.)
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEVICELAB = str(Path(sys.executable).parent / "devicelab")
PACKAGE = ROOT / "resources" / "packages" / "digits-cnn"
VIDEO = ROOT / "resources" / "recordings" / "digits-demo.avi"


def dl(*args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([DEVICELAB, *args], capture_output=True, text=True, timeout=timeout)


def test_missing_ground_truth_is_said_in_the_consoles_words(tmp_path: Path) -> None:
    missing = tmp_path / "nope.truth.csv"
    res = dl("run", "--package", str(PACKAGE), "--input", str(VIDEO), "--truth", str(missing),
             "--frames", "5", "--db", str(tmp_path / "s.db"))
    assert res.returncode == 2, res.stderr
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith("devicelab: error: ground-truth file not found: "), last
    assert str(missing) in last and "frame,label" in last
    assert "Errno" not in res.stderr and "Traceback" not in res.stderr


def test_unreadable_ground_truth_names_why(tmp_path: Path) -> None:
    res = dl("run", "--package", str(PACKAGE), "--input", str(VIDEO), "--truth", str(tmp_path),
             "--frames", "5", "--db", str(tmp_path / "s.db"))
    assert res.returncode == 2, res.stderr
    last = res.stderr.strip().splitlines()[-1]
    assert f"ground-truth file {tmp_path} cannot be read (Is a directory)" in last, last
    assert "Errno" not in res.stderr


def test_a_run_shorter_than_the_progress_interval_prints_its_final_count(tmp_path: Path
                                                                         ) -> None:
    res = dl("run", "--package", str(PACKAGE), "--input", str(VIDEO), "--frames", "40",
             "--db", str(tmp_path / "s.db"))
    assert res.returncode == 0, res.stderr
    progress = [ln for ln in res.stderr.splitlines() if ln.startswith("frame ")]
    assert progress, res.stderr
    m = re.match(r"frame\s+(\d+)\s+([\d.]+) fps", progress[-1])
    assert m is not None, progress  # the last line has a rate, not "-"
    assert int(m[1]) == 40 and float(m[2]) > 0


def test_gui_takes_fps_recording_and_loop_and_refuses_a_bad_rate() -> None:
    res = dl("gui", "--help")
    assert res.returncode == 0
    assert "--fps F|recording" in res.stdout and "--loop" in res.stdout
    bad = dl("gui", "--fps", "fast")
    assert bad.returncode == 2
    assert "'fast' is not a frame rate" in bad.stderr and "Traceback" not in bad.stderr
