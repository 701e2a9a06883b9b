"""Fixtures for the runtime tests: the demo in its three runtimes, and a device Python
that lacks OpenVINO and LiteRT (a real venv holding only numpy, OpenCV and onnxruntime)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ROOT / "resources" / "packages"
DEMO = {"onnxruntime": PACKAGES / "digits-cnn", "litert": PACKAGES / "digits-cnn-litert",
        "openvino": PACKAGES / "digits-cnn-openvino"}
VIDEO = ROOT / "resources" / "recordings" / "digits-demo.avi"
FACE = ROOT / "tests" / "data" / "third_party" / "mediapipe-face-detection"


@pytest.fixture(scope="session")
def python_without_openvino(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A device interpreter without openvino and ai-edge-litert: a venv of this Python
    whose site-packages links only what an onnxruntime device has."""
    import sysconfig

    venv = tmp_path_factory.mktemp("device-venv") / "v"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=120)
    src = Path(sysconfig.get_paths()["purelib"])
    dst = venv / "lib" / f"python{sys.version_info[0]}.{sys.version_info[1]}" / "site-packages"
    for name in ("numpy", "numpy.libs", "cv2", "opencv_python_headless.libs", "onnxruntime"):
        if (src / name).exists():
            (dst / name).symlink_to(src / name)
    py = str(venv / "bin" / "python")
    check = subprocess.run([py, "-c", "import numpy, onnxruntime, cv2\n"
                            "try:\n import openvino\nexcept ImportError: print('absent')"],
                           capture_output=True, text=True, timeout=60)
    assert check.stdout.strip() == "absent", check.stderr
    return py
