"""Model packages: every refusal is one precise line; nothing in a package executes."""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from pathlib import Path

import pytest

from console.core.manifest import PackageError, parse_manifest, sha256_file
from console.core.package import build_package, open_package, verify_package


@pytest.fixture
def pkg(tmp_path: Path, demo_package: Path) -> Path:
    dst = tmp_path / "pkg"
    shutil.copytree(demo_package, dst)
    return dst


def _manifest(p: Path) -> dict:
    return json.loads((p / "manifest.json").read_text())


def _write_manifest(p: Path, m: dict) -> None:
    (p / "manifest.json").write_text(json.dumps(m, indent=2))


def test_demo_package_verifies(demo_package: Path) -> None:
    ver = verify_package(demo_package)
    assert ver.ok, ver.problems
    assert ver.package is not None
    assert ver.package.manifest.task == "classification"
    assert ver.package.labels is not None and len(ver.package.labels) == 10
    assert ver.package.digest == sha256_file(str(demo_package / "manifest.json"))


def test_flipped_model_byte_is_refused(pkg: Path) -> None:
    model = pkg / _manifest(pkg)["model"]
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0x01
    model.write_bytes(bytes(data))
    ver = verify_package(pkg)
    assert not ver.ok
    assert "model.onnx: sha256 is" in ver.first_line()
    with pytest.raises(PackageError, match="sha256"):
        open_package(pkg)


def test_edited_manifest_hash_is_refused(pkg: Path) -> None:
    m = _manifest(pkg)
    m["files"]["labels.txt"]["sha256"] = "0" * 64
    _write_manifest(pkg, m)
    assert "labels.txt: sha256 is" in verify_package(pkg).first_line()


def test_size_mismatch_named(pkg: Path) -> None:
    with open(pkg / "labels.txt", "a") as fh:
        fh.write("extra\n")
    assert "labels.txt: size is" in verify_package(pkg).first_line()


@pytest.mark.parametrize("field, fragment", [
    ("format", "manifest.json: format: required field is missing"),
    ("model", "manifest.json: model: required field is missing"),
    ("input", "manifest.json: input: required field is missing"),
    ("task", "manifest.json: task: required field is missing"),
])
def test_missing_fields_are_named(pkg: Path, field: str, fragment: str) -> None:
    m = _manifest(pkg)
    del m[field]
    _write_manifest(pkg, m)
    assert fragment in verify_package(pkg).first_line()


def test_bad_values_are_named(pkg: Path) -> None:
    m = _manifest(pkg)
    m["input"]["layout"] = "CHW"
    _write_manifest(pkg, m)
    assert "input.layout: expected one of NCHW, NHWC, got 'CHW'" in verify_package(pkg).first_line()


def test_input_shape_disagreeing_with_model_is_refused(pkg: Path) -> None:
    m = _manifest(pkg)
    m["input"]["height"] = m["input"]["height"] * 2
    _write_manifest(pkg, m)
    line = verify_package(pkg).first_line()
    assert "manifest.json: input:" in line and "but the model's" in line


def test_wrong_input_name_lists_real_inputs(pkg: Path) -> None:
    m = _manifest(pkg)
    m["input"]["name"] = "images"
    _write_manifest(pkg, m)
    line = verify_package(pkg).first_line()
    assert "model has no input 'images'" in line


def test_labels_count_must_match_output(pkg: Path) -> None:
    labels = pkg / "labels.txt"
    labels.write_text("\n".join(str(i) for i in range(7)) + "\n")
    m = _manifest(pkg)
    m["files"]["labels.txt"] = {"sha256": sha256_file(str(labels)), "size": labels.stat().st_size}
    _write_manifest(pkg, m)
    assert "has 7 labels" in verify_package(pkg).first_line()


def test_not_a_model_is_refused(pkg: Path) -> None:
    model = pkg / "model.onnx"
    model.write_bytes(b"this is not an onnx file")
    m = _manifest(pkg)
    m["files"]["model.onnx"] = {"sha256": sha256_file(str(model)), "size": model.stat().st_size}
    _write_manifest(pkg, m)
    assert "onnxruntime cannot load the model" in verify_package(pkg).first_line()


def test_min_onnxruntime_enforced(pkg: Path) -> None:
    m = _manifest(pkg)
    m["min_onnxruntime"] = "99.0"
    _write_manifest(pkg, m)
    assert "needs onnxruntime >= 99.0" in verify_package(pkg).first_line()


def test_manifest_paths_cannot_escape(pkg: Path) -> None:
    m = _manifest(pkg)
    m["files"]["../evil.txt"] = {"sha256": "0" * 64, "size": 1}
    _write_manifest(pkg, m)
    assert "escapes" in verify_package(pkg).first_line()


def test_symlink_escaping_root_is_refused(pkg: Path, tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("secret")
    (pkg / "labels.txt").unlink()
    os.symlink(outside, pkg / "labels.txt")
    assert "outside the package" in verify_package(pkg).first_line()


def test_zip_package_round_trip_and_traversal_refused(pkg: Path, tmp_path: Path) -> None:
    good = tmp_path / "good.zip"
    with zipfile.ZipFile(good, "w") as zf:
        for f in pkg.iterdir():
            zf.write(f, f"demo/{f.name}")  # one top folder is accepted
    ver = verify_package(good)
    assert ver.ok, ver.problems
    bad = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad, "w") as zf:
        for f in pkg.iterdir():
            zf.write(f, f.name)
        zf.writestr("../escape.txt", "x")
    line = verify_package(bad).first_line()
    assert "escape" in line and "bad.zip" in line
    assert not (tmp_path / "escape.txt").exists()


def test_not_a_package(tmp_path: Path) -> None:
    (tmp_path / "x.zip").write_bytes(b"PK\x03\x04broken")
    assert "not a valid zip" in verify_package(tmp_path / "x.zip").first_line() or \
        "neither" in verify_package(tmp_path / "x.zip").first_line()
    assert "manifest.json: not found" in verify_package(tmp_path).first_line()
    assert "no such file" in verify_package(tmp_path / "nope").first_line()
    (tmp_path / "manifest.json").write_text("{not json")
    assert "not valid JSON" in verify_package(tmp_path).first_line()


def test_build_reads_real_signature(pkg: Path, tmp_path: Path) -> None:
    out = build_package(pkg / "model.onnx", tmp_path / "rebuilt.zip", task="classification",
                        labels=pkg / "labels.txt", name="rebuilt", version="2.0.0")
    ver = verify_package(out)
    assert ver.ok, ver.problems
    src = _manifest(pkg)["input"]
    got = ver.package.manifest.input
    assert (got.name, got.layout, got.height, got.width, got.color) == (
        src["name"], src["layout"], src["height"], src["width"], src["color"])
    assert ver.package.manifest.version == "2.0.0"


def test_parse_manifest_rejects_non_object() -> None:
    with pytest.raises(PackageError, match="must hold a JSON object"):
        parse_manifest([1, 2])


def test_rebuild_into_existing_folder_leaves_no_stale_files(pkg: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "stale.bin").write_bytes(b"old build")
    build_package(pkg / "model.onnx", out, task="classification", labels=pkg / "labels.txt")
    assert not (out / "stale.bin").exists()
    ver = verify_package(out)
    assert ver.ok and not ver.warnings


def test_extra_file_cannot_shadow_the_model(pkg: Path, tmp_path: Path) -> None:
    other = tmp_path / "x" / "model.onnx"
    other.parent.mkdir()
    other.write_bytes(b"not the model")
    with pytest.raises(PackageError, match=r"may not be named 'model\.onnx'"):
        build_package(pkg / "model.onnx", tmp_path / "o", task="classification",
                      extra_files=[other])


def test_a_tampered_unpack_cache_is_not_reused(pkg: Path, tmp_path: Path) -> None:
    """A zip unpacks to a folder named after its sha256; rewriting that folder
    consistently (labels and the manifest's hash of them) must not change what runs."""
    z = tmp_path / "pkg.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for f in pkg.iterdir():
            zf.write(f, f.name)
    first = verify_package(z)
    assert first.ok, first.problems
    cached = first.package.root
    assert cached != pkg and (cached / "labels.txt").is_file()
    labels = (cached / "labels.txt").read_text()
    (cached / "labels.txt").write_text(labels.replace("zero", "SEVEN", 1)
                                       if "zero" in labels else "SEVEN\n" + labels)
    m = _manifest(cached)
    m["files"]["labels.txt"]["sha256"] = sha256_file(str(cached / "labels.txt"))
    m["files"]["labels.txt"]["size"] = (cached / "labels.txt").stat().st_size
    _write_manifest(cached, m)
    again = verify_package(z)
    assert again.ok, again.problems
    assert (again.package.root / "labels.txt").read_text() == (pkg / "labels.txt").read_text()
    assert again.package.digest == first.package.digest
