"""LiteRT and OpenVINO packages over SSH (a real sshd; the device is this machine), recorded
like any session, and a saved device whose Python lacks a runtime told how to get it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from console.core.store import SessionStore
from console.devices.base import AgentOptions
from console.devices.local import LocalDevice
from console.session.profiles import load_profile
from console.session.run import Run, RunRequest

from .conftest import SshEnv

pytestmark = pytest.mark.ssh
ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ROOT / "resources" / "packages"
VIDEO = ROOT / "resources" / "recordings" / "digits-demo.avi"


def _device_python_without(tmp: Path) -> str:
    """A device Python with numpy, OpenCV and onnxruntime only (no openvino, no LiteRT)."""
    import sysconfig

    venv = tmp / "device-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=120)
    src = Path(sysconfig.get_paths()["purelib"])
    dst = venv / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"
    for name in ("numpy", "numpy.libs", "cv2", "opencv_python_headless.libs", "onnxruntime"):
        if (src / name).exists():
            (dst / name).symlink_to(src / name)
    return str(venv / "bin" / "python")


@pytest.mark.parametrize("name", ["digits-cnn-litert", "digits-cnn-openvino"])
def test_runtime_package_over_ssh_matches_the_local_run(ssh_env: SshEnv, db_path: Path,
                                                        name: str) -> None:
    ssh_env.trust()
    pkg = PACKAGES / name
    opts = AgentOptions(frames=120, preview_fps=0, profile=30)
    dev = ssh_env.device()
    try:
        remote = Run(dev, RunRequest(str(pkg), str(VIDEO), opts), db_path).execute()
    finally:
        dev.close()
    local = Run(LocalDevice(), RunRequest(str(pkg), str(VIDEO), opts), db_path).execute()
    assert remote.status == local.status == "completed", (remote.error, local.error)
    with SessionStore(db_path) as st:
        r, lo = st.get_session(remote.session_id), st.get_session(local.session_id)
        assert r["device_kind"] == "ssh" and lo["device_kind"] == "local"
        for key in ("runtime", "runtime_version", "provider", "package_digest"):
            assert r[key] == lo[key], key
        assert np.array_equal(st.frame_column(remote.session_id, "top1"),
                              st.frame_column(local.session_id, "top1"))
        prof = load_profile(st, remote.session_id)
    assert prof is not None
    if name.endswith("openvino"):
        assert prof.status == "ok" and prof.frames == 30 and prof.ops
    else:
        assert prof.status == "unavailable" and "no profiler" in prof.text


def test_saved_device_without_openvino_gets_the_probes_fix_line(ssh_env: SshEnv,
                                                                tmp_path: Path,
                                                                db_path: Path) -> None:
    py = _device_python_without(tmp_path)
    ssh_env.trust()
    env = ssh_env.env()
    add = subprocess.run([sys.executable, "-m", "console.launcher", "devices", "add", "bare",
                          ssh_env.url, "--python", py, "--workdir", str(ssh_env.workdir),
                          "--key-file", str(ssh_env.server.client_key)],
                         capture_output=True, text=True, timeout=120, env=env)
    assert add.returncode == 0, add.stderr
    probe = subprocess.run([sys.executable, "-m", "console.launcher", "devices", "probe",
                            "bare"], capture_output=True, text=True, timeout=120, env=env)
    assert probe.returncode == 0, probe.stderr  # onnxruntime packages still run there
    lines = probe.stdout.splitlines()
    rt = [x for x in lines if x.startswith(("runtimes ", "            "))]
    assert any("litert MISSING" in x for x in rt), rt
    fix = f"on the device run: {py} -m pip install openvino"
    assert any("openvino MISSING" in x and x.endswith(fix) for x in rt), rt
    assert any(x.startswith("MISSING     OpenVINO missing") and x.endswith(
        f"{py} -m pip install openvino") for x in lines)
    dev = ssh_env.device(python=py)
    try:
        res = Run(dev, RunRequest(str(PACKAGES / "digits-cnn-openvino"), "synthetic:8x8",
                                  AgentOptions(frames=5, preview_fps=0)), db_path).execute()
    finally:
        dev.close()
    assert res.status == "failed"
    assert res.error is not None and res.error.endswith(f"install it with: {py} -m pip install "
                                                        "openvino")
