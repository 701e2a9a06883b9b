"""The settings file under concurrent writers: the window, a CLI command, a second
window. Real processes, a real file."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from console.core.settings import SettingsError, load_settings, update_settings

WRITER = """
import sys
from pathlib import Path
from console.core.settings import update_settings
path, tag, n = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
for i in range(n):
    update_settings(lambda s: s.devices.append({"name": f"{tag}-{i}"}), path)
"""


def test_concurrent_updates_from_several_processes_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    n = 60
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, str(path), tag, str(n)])
             for tag in ("a", "b", "c")]
    for p in procs:
        assert p.wait(timeout=120) == 0
    names = [d["name"] for d in load_settings(path).devices]
    assert len(names) == 3 * n
    assert sorted(names) == sorted(f"{t}-{i}" for t in "abc" for i in range(n))


def test_a_damaged_file_is_one_clear_error_and_is_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "settings.json"
    path.write_text("{not json")
    try:
        update_settings(lambda s: s.devices.append({"name": "x"}), path)
    except SettingsError as exc:
        assert str(path) in str(exc) and "unreadable" in str(exc) and "\n" not in str(exc)
    else:
        raise AssertionError("a damaged settings file was overwritten")
    assert path.read_text() == "{not json"
