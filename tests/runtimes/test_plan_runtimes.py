"""A plan lists the same model in three runtimes as three cells; the matrix then has a
column per runtime (with its version and the EP/device that ran it)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from console.core.store import SessionStore
from console.session.matrix import build_matrix
from console.session.plan_log import get_plan_run, list_plan_runs

from .conftest import DEMO, ROOT, VIDEO

TRUTH = ROOT / "resources" / "recordings" / "digits-demo.truth.csv"


def test_a_plan_runs_one_model_in_three_runtimes_and_the_matrix_shows_them(
        tmp_path: Path) -> None:
    plan = tmp_path / "plan.toml"
    plan.write_text(f'''name = "runtimes"
devices = ["local"]
packages = {json.dumps([str(DEMO[r]) for r in ("onnxruntime", "litert", "openvino")])}
inputs = [{{ path = "{VIDEO}", truth = "{TRUTH}" }}]
[run]
frames = 120
threads = 1
[budgets]
p95 = "10s"
''')
    db = tmp_path / "s.db"
    res = subprocess.run([sys.executable, "-m", "console.launcher", "plan", "run", str(plan),
                          "--db", str(db)], capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout + res.stderr
    with SessionStore(db, readonly=True) as st:
        pr = get_plan_run(st, list_plan_runs(st)[0]["id"])
        assert pr is not None
        assert [c["verdict"] for c in pr["cells"]] == ["pass", "pass", "pass"]
        sessions = [st.get_session(c["session_id"]) for c in pr["cells"]]
        assert [s["runtime"] for s in sessions] == ["onnxruntime", "litert", "openvino"]
        assert all(s["summary"]["accuracy"]["top1"] > 0.95 for s in sessions)
        m = build_matrix(st)
    assert len(m.rows) == 1
    cols = {c.runtime: c for c in m.columns}
    assert set(cols) == {"onnxruntime", "litert", "openvino"}
    assert cols["litert"].provider == "CPU (XNNPACK)" and cols["openvino"].provider == "CPU"
    assert cols["onnxruntime"].label.startswith("digits-cnn@1.0.0 · onnxruntime ")
    assert cols["openvino"].onnxruntime == "-" and cols["openvino"].runtime_version[0].isdigit()
    text = subprocess.run([sys.executable, "-m", "console.launcher", "sessions", "matrix",
                           "--db", str(db)], capture_output=True, text=True, timeout=120)
    assert text.returncode == 0, text.stderr
    assert "digits-cnn-litert@1.0.0 · litert " in text.stdout
    assert "digits-cnn-openvino@1.0.0 · openvino " in text.stdout
