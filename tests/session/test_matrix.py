"""The compatibility matrix built from real runs in the log."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest
from helpers.recording import DEVICELAB, PKG, PKG_INT8, copy_db

from console.core.store import SessionStore
from console.devices.base import AgentOptions
from console.devices.local import LocalDevice
from console.session.matrix import build_matrix
from console.session.run import Run, RunRequest


def run(db: Path, package: Path, inp: str, budgets: dict[str, float] | None = None) -> Any:
    opts = AgentOptions(frames=30, telemetry_ms=20, preview_fps=0)
    return Run(LocalDevice(), RunRequest(str(package), inp, opts, budgets=budgets or {}),
               db).execute()


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    d = tmp_path_factory.mktemp("matrix")
    db = d / "sessions.db"
    broken = d / "broken.avi"
    broken.write_bytes(b"RIFF\x00\x00\x00\x00AVI garbage" * 100)
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DEVICELAB_HOME", str(d / "home"))
        old32 = run(db, PKG, "synthetic:32x32", {"p95_ms": 10_000.0})
        new32 = run(db, PKG, "synthetic:32x32", {"p95_ms": 10_000.0})
        int8 = run(db, PKG_INT8, "synthetic:32x32", {"p95_ms": 1e-6})
        failed = run(db, PKG_INT8, str(broken))
        nobudget = run(db, PKG, "synthetic:32x32")
    assert failed.status == "failed"
    return {"db": db, "old32": old32, "new32": new32, "int8": int8, "failed": failed,
            "nobudget": nobudget}


def test_latest_session_per_device_and_column(log: dict[str, Any]) -> None:
    with SessionStore(log["db"]) as st:
        m = build_matrix(st)
        facts = st.get_session(log["new32"].session_id)["device_facts"]
    assert len(m.rows) == 1
    row = m.rows[0]
    assert row.name == "This computer" and row.kernel == facts["kernel"]
    assert row.os == facts["os"]
    cols = {c.package: i for i, c in enumerate(m.columns)}
    assert set(cols) == {"digits-cnn@1.0.0", "digits-cnn-int8@1.0.0"}
    assert all(c.onnxruntime == facts["libraries"]["onnxruntime"] for c in m.columns)
    assert all(c.provider == "CPUExecutionProvider" for c in m.columns)
    fp32 = m.cell(0, cols["digits-cnn@1.0.0"])
    assert fp32 is not None
    # the newest fp32 session is the one without budgets
    assert fp32.session_id == log["nobudget"].session_id and fp32.budget == "none"
    assert fp32.sessions == 3
    assert fp32.p95_ms == log["nobudget"].summary["latency_ms"]["e2e"]["p95"]
    assert fp32.fps == log["nobudget"].summary["fps"]
    # the newest int8 session failed: the cell says so, it does not show an older success
    int8 = m.cell(0, cols["digits-cnn-int8@1.0.0"])
    assert int8 is not None and int8.session_id == log["failed"].session_id
    assert int8.status == "failed" and int8.sessions == 2


def test_budget_verdicts_in_cells(log: dict[str, Any], tmp_path: Path) -> None:
    with SessionStore(copy_db(log["db"], tmp_path / "s.db")) as st:
        st.delete_session(log["failed"].session_id)  # then the int8 cell is the budget failure
        m = build_matrix(st, package="digits-cnn-int8")
        fp32 = build_matrix(st, package="digits-cnn@1.0.0", since=0)
    (cell,) = m.cells.values()
    assert cell.session_id == log["int8"].session_id
    assert cell.budget == "fail" and cell.budgets_failed == ("p95_ms",)
    assert [c.session_id for c in fp32.cells.values()] == [log["nobudget"].session_id]


def test_a_kernel_upgrade_is_a_new_row(log: dict[str, Any], tmp_path: Path) -> None:
    with SessionStore(copy_db(log["db"], tmp_path / "s.db")) as st:
        s = st.get_session(log["old32"].session_id)
        facts = dict(s["device_facts"], kernel="9.9.9-upgraded")
        st.update_session(s["id"], device_facts=facts)
        m = build_matrix(st)
    assert len(m.rows) == 2
    upgraded = next(i for i, r in enumerate(m.rows) if r.kernel == "9.9.9-upgraded")
    (cell,) = [c for (r, _), c in m.cells.items() if r == upgraded]
    assert cell.session_id == log["old32"].session_id and cell.budget == "pass"


def test_cli_matrix(log: dict[str, Any]) -> None:
    res = subprocess.run([DEVICELAB, "sessions", "matrix", "--json", "--db", str(log["db"])],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["format"] == "devicelab-matrix/1" and len(doc["cells"]) == 2
    text = subprocess.run([DEVICELAB, "sessions", "matrix", "--db", str(log["db"])],
                          capture_output=True, text=True, timeout=120)
    assert text.returncode == 0
    assert "digits-cnn-int8@1.0.0 · onnxruntime" in text.stdout
    assert f"FAILED #{log['failed'].session_id}" in text.stdout
    assert f"no budget #{log['nobudget'].session_id}" in text.stdout
    empty = subprocess.run([DEVICELAB, "sessions", "matrix", "--package", "nothing-like-it",
                            "--db", str(log["db"])], capture_output=True, text=True, timeout=120)
    assert empty.returncode == 0 and "the matrix is empty" in empty.stdout
