"""The manifest names its runtime; today's packages are unchanged; settings a runtime
lacks are refused with one line, wherever they come from."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from console.core.errors import UserError
from console.core.manifest import (
    PackageError,
    RuntimeSettingError,
    parse_manifest,
    read_manifest,
    run_settings,
)

from .conftest import DEMO, PACKAGES


def _raw(pkg: Path) -> dict:
    return json.loads((pkg / "manifest.json").read_text())


@pytest.mark.parametrize("name", ["digits-cnn", "digits-cnn-int8", "nanodet-g-coco"])
def test_todays_packages_are_onnxruntime_byte_for_byte(name: str) -> None:
    m, raw = read_manifest(str(PACKAGES / name))
    assert m.runtime == "onnxruntime" and m.runtime_settings == {}
    assert "runtime" not in json.loads(raw)
    if name != "nanodet-g-coco":  # built by build_package: canonical bytes
        assert m.to_bytes() == raw, "an onnxruntime package's manifest (its digest) changed"


def test_the_demo_twins_name_their_runtime_and_model_files() -> None:
    lit, _ = read_manifest(str(DEMO["litert"]))
    ov, _ = read_manifest(str(DEMO["openvino"]))
    assert (lit.runtime, lit.model, lit.input.layout) == ("litert", "model.tflite", "NHWC")
    assert (ov.runtime, ov.model) == ("openvino", "model.xml") and "model.bin" in ov.files


def test_a_setting_the_runtime_lacks_is_refused_in_one_line() -> None:
    d = _raw(DEMO["litert"]) | {"runtime_settings": {"performance_hint": "LATENCY"}}
    with pytest.raises(RuntimeSettingError) as ei:
        parse_manifest(d)
    text = str(ei.value)
    assert isinstance(ei.value, UserError) and isinstance(ei.value, PackageError)
    assert "\n" not in text
    assert text.startswith("manifest.json: runtime_settings.performance_hint: litert has no "
                           "setting 'performance_hint' (it takes: threads)")


def test_bad_values_and_unknown_runtimes_are_refused() -> None:
    base = _raw(DEMO["openvino"])
    for settings, words in (({"device": "TPU"}, "OpenVINO device must be"),
                            ({"threads": -1}, "threads must be a whole number"),
                            ({"performance_hint": "FAST"}, "performance_hint must be one of")):
        with pytest.raises(RuntimeSettingError, match=words):
            parse_manifest(base | {"runtime_settings": settings})
    with pytest.raises(PackageError, match="runtime: expected one of onnxruntime, litert, "
                                           "openvino, got 'tensorrt'"):
        parse_manifest(base | {"runtime": "tensorrt"})
    with pytest.raises(PackageError, match=r"litert reads \.tflite models, got 'model\.xml'"):
        parse_manifest(base | {"runtime": "litert"})


def test_an_ir_without_its_weights_listed_is_refused() -> None:
    d = _raw(DEMO["openvino"])
    del d["files"]["model.bin"]
    with pytest.raises(PackageError, match=r"the OpenVINO IR model\.xml needs its weights "
                                           r"model\.bin listed"):
        parse_manifest(d)


def test_run_options_map_to_each_runtimes_own_knobs() -> None:
    ort, _ = read_manifest(str(DEMO["onnxruntime"]))
    lit, _ = read_manifest(str(DEMO["litert"]))
    ov, _ = read_manifest(str(DEMO["openvino"]))
    assert run_settings(ort, "CPUExecutionProvider", 2, "off") == {
        "provider": "CPUExecutionProvider", "threads": 2, "spin": "off"}
    assert run_settings(ov, "AUTO", 1, "auto", {"performance_hint": "throughput"}) == {
        "device": "AUTO", "threads": 1, "performance_hint": "THROUGHPUT"}
    assert run_settings(lit, None, 3) == {"threads": 3}
    with pytest.raises(RuntimeSettingError, match=r"^\-\-provider: litert has no setting"):
        run_settings(lit, "CPUExecutionProvider")
    with pytest.raises(RuntimeSettingError, match=r"^\-\-spin: openvino has no setting 'spin'"):
        run_settings(ov, spin="on")
