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
from console.core.manifest import Manifest, read_manifest, verify_files

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
    assert ei.value.code == "package_invalid"
    assert ei.value.text.startswith("package refused on the device: model.onnx: ")
    assert "\n" not in ei.value.text


def test_model_gone_after_verification_is_a_package_refusal(package: Path) -> None:
    """The same code and words as any other file of the package that is missing, so the
    SSH device treats the cached copy as damaged, as it does for the others."""
    manifest, _ = read_manifest(str(package))
    (package / "model.onnx").unlink()
    with pytest.raises(PipelineError) as ei:
        Pipeline(str(package), manifest)
    assert ei.value.code == "package_invalid"
    assert ei.value.text == ("package refused on the device: model.onnx: listed in "
                             "manifest.json but missing")


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



def test_a_model_with_external_weights_runs_and_its_weights_are_checked(tmp_path: Path) -> None:
    """Models over 2 GB keep their weights in a file beside the model; onnxruntime finds
    them only from a path. Such a package must run through the real agent (it did not
    when the model was always loaded from bytes), and a changed weights file must still
    be refused before anything runs."""
    import onnx

    from console.core.package import build_package
    from console.devices.base import AgentOptions
    from console.devices.local import LocalDevice
    from console.session.run import Run, RunError, RunRequest

    src = tmp_path / "src"
    src.mkdir()
    m = onnx.load(str(FP32 / "model.onnx"))
    onnx.save_model(m, str(src / "model.onnx"), save_as_external_data=True,
                    all_tensors_to_one_file=True, location="weights.data", size_threshold=0)
    assert (src / "weights.data").stat().st_size > 1000
    pkg = build_package(src / "model.onnx", tmp_path / "pkg", task="classification",
                        labels=FP32 / "labels.txt", name="digits-ext", version="1.0.0",
                        extra_files=[src / "weights.data"])
    db = tmp_path / "s.db"
    res = Run(LocalDevice(), RunRequest(str(pkg), "synthetic:8x8",
                                        AgentOptions(frames=20, preview_fps=0)), db).execute()
    assert res.status == "completed", res.error
    assert res.summary["frames"] == 20

    weights = Path(pkg) / "weights.data"
    data = bytearray(weights.read_bytes())
    data[100] ^= 0xFF
    weights.write_bytes(bytes(data))
    # the agent's own check (everything but the model, which read_model hashes)
    man, _ = read_manifest(str(pkg))
    problems = verify_files(str(pkg), man, skip=(man.model,))
    assert len(problems) == 1 and str(problems[0]).startswith("weights.data: sha256 is ")
    # and the console's, before any agent starts
    with pytest.raises(RunError, match=r"weights\.data: sha256 is"):
        Run(LocalDevice(), RunRequest(str(pkg), "synthetic:8x8", AgentOptions(frames=5)),
            db).execute()
