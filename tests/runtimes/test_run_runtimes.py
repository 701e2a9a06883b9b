"""The demo in LiteRT and OpenVINO through the real agent on this computer, recorded like
any session: the three runtimes agree, profiles land in the log, a device Python without
a runtime is told how to get it, and a setting a runtime lacks is refused."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from console.core.store import SessionStore
from console.devices.agent_bundle import local_bundle_path
from console.devices.base import AgentOptions
from console.devices.local import LocalDevice
from console.session.profiles import load_profile
from console.session.run import Run, RunError, RunRequest

from .conftest import DEMO, ROOT, VIDEO

TRUTH = ROOT / "resources" / "recordings" / "digits-demo.truth.csv"


def test_three_runtimes_agree_on_the_demo_through_the_agent(db_path: Path) -> None:
    results = {}
    for rt, pkg in DEMO.items():
        res = Run(LocalDevice(), RunRequest(str(pkg), str(VIDEO),
                                            AgentOptions(preview_fps=0, profile=40),
                                            truth=str(TRUTH)), db_path).execute()
        assert res.status == "completed", (rt, res.error)
        results[rt] = res
    with SessionStore(db_path) as st:
        tops = {rt: st.frame_column(r.session_id, "top1") for rt, r in results.items()}
        rows = {rt: st.get_session(r.session_id) for rt, r in results.items()}
        profiles = {rt: load_profile(st, r.session_id) for rt, r in results.items()}
        events = {rt: [e["text"] for e in st.events(r.session_id) if e["code"] == "profile"]
                  for rt, r in results.items()}
    n = len(tops["onnxruntime"])
    assert n == 360 and all(len(t) == n for t in tops.values())
    for rt in ("litert", "openvino"):
        agree = float(np.mean(tops[rt] == tops["onnxruntime"]))
        assert agree >= 0.99, f"{rt} agrees with onnxruntime on {agree:.2%} of the frames"
    # every session says what ran it
    assert rows["onnxruntime"]["runtime"] == "onnxruntime"
    assert rows["onnxruntime"]["provider"] == "CPUExecutionProvider"
    assert rows["litert"]["runtime"] == "litert" and rows["litert"]["provider"] == \
        "CPU (XNNPACK)"
    assert rows["openvino"]["runtime"] == "openvino" and rows["openvino"]["provider"] == "CPU"
    import ai_edge_litert
    import openvino

    assert rows["litert"]["runtime_version"] == ai_edge_litert.__version__
    assert openvino.__version__.startswith(rows["openvino"]["runtime_version"])
    # per-operator profiles from the runtimes' own profilers; LiteRT says why not
    for rt in ("onnxruntime", "openvino"):
        p = profiles[rt]
        assert p is not None and p.status == "ok" and (p.first_frame, p.frames) == (10, 40)
        assert len(p.ops) >= 4 and 0 < (p.attributed() or 0) <= 1.0
        convs = [o for o in p.ops if o.op_type in ("Conv", "Convolution")]
        assert len(convs) == 2 and all(o.calls == 40 for o in convs)
        assert events[rt] and events[rt][0].startswith("operator profile of frames 10-49")
    lit = profiles["litert"]
    assert lit is not None and lit.status == "unavailable" and lit.ops == ()
    assert "exposes no profiler" in lit.text


def test_a_device_python_without_openvino_gets_the_probes_fix_line(
        python_without_openvino: str, db_path: Path) -> None:
    dev = LocalDevice(python=python_without_openvino)
    facts = dev.probe()
    assert facts["runtimes"]["openvino"]["version"] is None
    assert facts["runtimes"]["onnxruntime"]["version"]
    fix = f"{python_without_openvino} -m pip install openvino"
    assert any(r.startswith("OpenVINO missing (") and r.endswith(fix)
               for r in facts["requirements"])
    assert any(r.endswith(f"{python_without_openvino} -m pip install ai-edge-litert")
               for r in facts["requirements"])
    res = Run(dev, RunRequest(str(DEMO["openvino"]), "synthetic:8x8",
                              AgentOptions(frames=10, preview_fps=0)), db_path).execute()
    assert res.status == "failed"
    assert res.error is not None and res.error.startswith("the package runs on openvino, which "
                                                          "the device's Python ")
    assert res.error.endswith(f"install it with: {fix}")
    # the same device still runs onnxruntime packages
    ok = Run(dev, RunRequest(str(DEMO["onnxruntime"]), "synthetic:8x8",
                             AgentOptions(frames=10, preview_fps=0)), db_path).execute()
    assert ok.status == "completed", ok.error


def test_a_setting_the_runtime_lacks_is_refused_by_the_console_and_the_agent(
        db_path: Path, tmp_path: Path) -> None:
    with pytest.raises(RunError, match=r"^run refused: \-\-provider: litert has no setting "
                                       r"'provider' \(it takes: threads\)"):
        Run(LocalDevice(), RunRequest(str(DEMO["litert"]), "synthetic:8x8",
                                      AgentOptions(frames=5, provider="GPU")), db_path).execute()
    with pytest.raises(RunError, match="performance_hint must be one of"):
        Run(LocalDevice(), RunRequest(str(DEMO["openvino"]), "synthetic:8x8", AgentOptions(
            frames=5, runtime_settings=(("performance_hint", "FAST"),))), db_path).execute()
    # an agent asked directly (a console that did not check) refuses it too
    res = subprocess.run([sys.executable, str(local_bundle_path()), "run", "--package",
                          str(DEMO["litert"]), "--input", "synthetic:8x8", "--frames", "3",
                          "--runtime-setting", "device=GPU"], capture_output=True, text=True,
                         timeout=120, stdin=subprocess.DEVNULL)
    assert res.returncode == 3
    msgs = [json.loads(line) for line in res.stdout.splitlines()]
    err = [m for m in msgs if m["t"] == "error"]
    assert err and err[0]["code"] == "setting_unsupported"
    assert err[0]["text"] == ("refused on the device: --runtime-setting device: litert has no "
                              "setting 'device' (it takes: threads); remove it or run the "
                              "package with another runtime")


def test_openvino_settings_reach_openvino(db_path: Path) -> None:
    res = Run(LocalDevice(), RunRequest(str(DEMO["openvino"]), "synthetic:8x8", AgentOptions(
        frames=20, preview_fps=0, threads=1, provider="AUTO",
        runtime_settings=(("performance_hint", "THROUGHPUT"),))), db_path).execute()
    assert res.status == "completed", res.error
    with SessionStore(db_path) as st:
        row = st.get_session(res.session_id)
    assert row["provider"] == "AUTO (CPU)"  # what AUTO chose, as OpenVINO reports it
    assert row["settings"]["runtime_settings"] == {"performance_hint": "THROUGHPUT"}


def test_cli_run_with_profile_prints_the_slowest_operators(tmp_path: Path) -> None:
    res = subprocess.run([sys.executable, "-m", "console.launcher", "run", "--package",
                          str(DEMO["openvino"]), "--input", str(VIDEO), "--frames", "80",
                          "--profile", "30", "--quiet", "--db", str(tmp_path / "s.db")],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr
    lines = res.stdout.splitlines()
    head = [x for x in lines if x.startswith("operators ")]
    assert head and head[0].startswith("operators   ") and "profiled over frames 10-39" in head[0]
    table = lines[lines.index(head[0]) + 1:]
    assert table[0].split()[:3] == ["#", "node", "op"]
    assert table[1].split()[0] == "1" and any("Convolution" in x for x in table[1:4])
    assert any(x.startswith("  by op type: ") for x in table)
