"""`devicelab gui --help`: the window's options with examples, like every CLI command.

Runs the real installed command (no window opens: --help exits first)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

DEVICELAB = str(Path(sys.executable).parent / "devicelab")


def test_gui_help_lists_the_options_with_examples() -> None:
    res = subprocess.run([DEVICELAB, "gui", "--help"], capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert out.startswith("usage: devicelab gui ")
    for opt in ("--db", "--package", "--input", "--truth", "--device", "--start", "--theme"):
        assert opt in out, opt
    assert "\nexample:\n  devicelab gui" in out
    assert "--input resources/recordings/digits-demo.avi --start" in out
    assert res.stderr == ""
