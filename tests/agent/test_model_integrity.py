"""The model that runs on the device is the model whose sha256 was checked.

The agent used to check every file's hash, then let onnxruntime open the
model again by path: a model swapped in between would have run. Now the
pipeline reads the model once, checks those bytes and builds the session
from them. Real onnxruntime, real demo packages (fp32 and its int8 twin
play "the package" and "the swapped-in model").

The race inside a real agent subprocess cannot be hit deterministically
from outside (the window is a few microseconds), so these tests drive
:class:`~console.agent.pipeline.Pipeline` in-process, where the swap can be
placed exactly: before the model is read, and right after its bytes were
read and checked.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from console.agent.pipeline import Pipeline, PipelineError
from console.core.manifest import Manifest, read_manifest

ROOT = Path(__file__).resolve().parents[2]
FP32 = ROOT / "resources" / "packages" / "digits-cnn"
INT8 = ROOT / "resources" / "packages" / "digits-cnn-int8"


@pytest.fixture
def package(tmp_path: Path) -> Path:
    root = tmp_path / "pkg"
    shutil.copytree(FP32, root)
    return root


def _outputs(session: ort.InferenceSession, x: np.ndarray) -> np.ndarray:
    return np.asarray(session.run(None, {"input": x})[0])


def _frame() -> np.ndarray:
    return np.random.default_rng(7).integers(0, 256, (8, 8), dtype=np.uint8)


def test_model_swapped_after_verification_is_refused_at_load(package: Path) -> None:
    manifest, _ = read_manifest(str(package))  # what the agent verified
    (package / "model.onnx").write_bytes((INT8 / "model.onnx").read_bytes())  # then swapped
    with pytest.raises(PipelineError) as ei:
        Pipeline(str(package), manifest)
    assert ei.value.code == "package_changed"
    assert "model.onnx changed after it was verified" in ei.value.text
    assert "\n" not in ei.value.text


def test_session_is_built_from_the_verified_bytes_not_the_path(package: Path) -> None:
    model = package / "model.onnx"
    swapped_in = (INT8 / "model.onnx").read_bytes()

    class SwapRightAfterTheCheck(Pipeline):
        """The real read and check, then the file on disk replaced (the attacker's moment)."""

        @staticmethod
        def read_model(root: str, manifest: Manifest) -> bytes:
            data = Pipeline.read_model(root, manifest)
            model.write_bytes(swapped_in)
            return data

    manifest, _ = read_manifest(str(package))
    pipe = SwapRightAfterTheCheck(str(package), manifest)
    assert model.read_bytes() == swapped_in, "the swap happened before the session was built"

    x = pipe.pre(_frame())
    fp32 = _outputs(ort.InferenceSession(str(FP32 / "model.onnx")), x)
    int8 = _outputs(ort.InferenceSession(str(INT8 / "model.onnx")), x)
    assert not np.allclose(fp32, int8, rtol=0, atol=1e-5), "the two models must be told apart"
    ran = np.asarray(pipe.infer(x)[0])
    np.testing.assert_allclose(ran, fp32, rtol=0, atol=1e-6)

