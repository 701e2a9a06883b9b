"""Fault 12: huge input dims with a dynamic-shape model.

A model whose height and width are symbolic accepts whatever the manifest
says, so nothing but the manifest bounds the input tensor: 100000x100000 RGB
float32 used to pass every console check, get deployed and fail on the
device with ``MemoryError: Unable to allocate 111.8 GiB``. Expected: refused
before deploying, with one line naming the cap and how to raise it
(``input.max_tensor_bytes``), through the real ``devicelab``; a package that
raises the cap for itself is accepted, and the same model at sane dims runs.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers.faults import devicelab, user_lines

from console.core.manifest import sha256_file
from console.core.store import SessionStore


@pytest.fixture
def dynamic_package(tmp_path: Path) -> Path:
    """A real ONNX model with input [1, 3, H, W] (H, W symbolic): the per-channel mean."""
    import onnx
    from onnx import TensorProto, helper

    inp = helper.make_tensor_value_info("input", TensorProto.FLOAT, [1, 3, "H", "W"])
    out = helper.make_tensor_value_info("mean", TensorProto.FLOAT, [1, 3])
    axes = helper.make_tensor("axes", TensorProto.INT64, [2], [2, 3])
    node = helper.make_node("ReduceMean", ["input", "axes"], ["mean"], keepdims=0)
    graph = helper.make_graph([node], "dynamic", [inp], [out], initializer=[axes])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    pkg = tmp_path / "dynamic"
    pkg.mkdir()
    onnx.save(model, str(pkg / "model.onnx"))
    _write_manifest(pkg, 64, 64)
    return pkg


def _write_manifest(pkg: Path, height: int, width: int, color: str = "RGB",
                    cap: int | None = None) -> None:
    m = {"format": "devicelab-package/1", "name": "dynamic", "version": "1.0.0",
         "task": "raw", "model": "model.onnx",
         "files": {"model.onnx": {"sha256": sha256_file(str(pkg / "model.onnx")),
                                  "size": (pkg / "model.onnx").stat().st_size}},
         "input": {"name": "input", "layout": "NCHW", "height": height, "width": width,
                   "color": color, "dtype": "float32"}}
    if cap is not None:
        m["input"]["max_tensor_bytes"] = cap
    (pkg / "manifest.json").write_text(json.dumps(m, indent=2))


def test_the_dynamic_model_runs_at_sane_dims(dynamic_package: Path, tmp_path: Path) -> None:
    res = devicelab("run", "--db", str(tmp_path / "s.db"), "--package", str(dynamic_package),
                    "--input", "synthetic:96x80", "--frames", "3", timeout=120)
    assert res.returncode == 0, res.stderr


def test_huge_input_dims_are_refused_before_deploying(dynamic_package: Path,
                                                      tmp_path: Path) -> None:
    _write_manifest(dynamic_package, 100_000, 100_000)
    line = ("devicelab: error: package refused: manifest.json: input: RGB 100000x100000 "
            "float32 makes a 111.8 GiB input tensor, over the 256.0 MiB cap; check "
            "input.height/width, or raise input.max_tensor_bytes (bytes) if the device "
            "really has the memory")
    res = devicelab("run", "--db", str(tmp_path / "s.db"), "--package", str(dynamic_package),
                    "--input", "synthetic:32x32", "--frames", "3", timeout=120)
    assert res.returncode == 2, res.stderr
    assert user_lines(res.stderr) == [line], res.stderr
    assert "[deploying]" not in res.stderr and "[connecting]" not in res.stderr
    if (tmp_path / "s.db").exists():
        with SessionStore(tmp_path / "s.db") as st:
            assert st.list_sessions() == []

    verify = devicelab("package", "verify", str(dynamic_package), timeout=60)
    assert verify.returncode == 2 and user_lines(verify.stderr) == [line]


def test_a_package_may_raise_the_cap_for_itself(dynamic_package: Path) -> None:
    # 12000x12000 RGB float32 is 1.6 GiB: over the default cap, under this package's own.
    _write_manifest(dynamic_package, 12_000, 12_000)
    res = devicelab("package", "verify", str(dynamic_package), timeout=60)
    assert res.returncode == 2 and "over the 256.0 MiB cap" in res.stderr
    _write_manifest(dynamic_package, 12_000, 12_000, cap=2 * 1024**3)
    res = devicelab("package", "verify", str(dynamic_package), timeout=60)
    assert res.returncode == 0, res.stderr
    from console.core.manifest import MAX_INPUT_TENSOR_BYTES

    assert MAX_INPUT_TENSOR_BYTES == 256 * 1024**2  # the figure docs/reliability.md names
