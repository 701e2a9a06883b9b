"""Fault 4: packages that must never run.

Each is injected into a real copy of the demo package: a flipped model
byte, an edited manifest hash, a signature by an untrusted key, a zip with
``../`` paths, a manifest with a field missing, a model whose real input
shape disagrees with the manifest. Expected: refused before a session,
a connection or a deploy, with one line (through ``Run`` as the window uses
it, and through the real ``devicelab run``).

And the last line of defence: a package changed *after* the console
verified it (between verify and load) is refused by the agent itself.
"""

from __future__ import annotations

import json
import shutil
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from helpers.faults import Collect, devicelab, user_lines
from trust.support import make_key

from console.core.inputs import InputSource
from console.core.manifest import SIGNATURE_NAME
from console.core.package import Package
from console.core.signing import load_private_key, sign_package
from console.core.store import SessionStore
from console.devices.base import Deployment, ProgressFn
from console.devices.local import LocalDevice
from console.session.run import Run, RunError, RunRequest
from console.session.trust import package_policy


def _manifest(p: Path) -> dict:
    return json.loads((p / "manifest.json").read_text())


def _write_manifest(p: Path, m: dict) -> None:
    (p / "manifest.json").write_text(json.dumps(m, indent=2))


def flip_model_byte(pkg: Path, tmp: Path) -> Path:
    model = pkg / _manifest(pkg)["model"]
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0x01
    model.write_bytes(bytes(data))
    return pkg


def edit_manifest_hash(pkg: Path, tmp: Path) -> Path:
    m = _manifest(pkg)
    m["files"]["model.onnx"]["sha256"] = "ab" * 32
    _write_manifest(pkg, m)
    return pkg


def sign_with_untrusted_key(pkg: Path, tmp: Path) -> Path:
    stranger = make_key(tmp / "keys", "stranger")
    sign_package(pkg, load_private_key(stranger.private), "stranger")
    return pkg


def zip_with_parent_paths(pkg: Path, tmp: Path) -> Path:
    z = tmp / "evil.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for f in sorted(pkg.iterdir()):
            zf.write(f, f.name)
        zf.writestr("../../escaped.txt", "written outside the package")
    return z


def drop_manifest_field(pkg: Path, tmp: Path) -> Path:
    m = _manifest(pkg)
    del m["input"]
    _write_manifest(pkg, m)
    return pkg


def disagree_on_input_shape(pkg: Path, tmp: Path) -> Path:
    m = _manifest(pkg)
    m["input"]["height"] = m["input"]["height"] * 2
    _write_manifest(pkg, m)
    return pkg


CASES: list[tuple[Callable[[Path, Path], Path], str]] = [
    (flip_model_byte, "model.onnx: sha256 is"),
    (edit_manifest_hash, "model.onnx: sha256 is"),
    (sign_with_untrusted_key, "manifest.sig: signed by an untrusted key"),
    (zip_with_parent_paths, "escape"),
    (drop_manifest_field, "manifest.json: input: required field is missing"),
    (disagree_on_input_shape, "but the model's"),
]


@pytest.fixture
def package(demo_package: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "pkg" / "digits-cnn"
    shutil.copytree(demo_package, dest)
    (dest / SIGNATURE_NAME).unlink(missing_ok=True)
    return dest


@pytest.mark.parametrize("tamper, fragment", CASES, ids=[c[0].__name__ for c in CASES])
def test_bad_package_is_refused_before_deploy_in_one_line(
        tamper: Callable[[Path, Path], Path], fragment: str, package: Path,
        tmp_path: Path) -> None:
    bad = tamper(package, tmp_path)
    db = tmp_path / "sessions.db"

    ls = Collect()
    run = Run(LocalDevice(), RunRequest(str(bad), "synthetic:32x32"), db, ls,
              package_policy=package_policy())
    with pytest.raises(RunError) as ei:
        run.execute()
    msg = str(ei.value)
    assert msg.startswith("package refused: ") and fragment in msg, msg
    assert "\n" not in msg
    assert ls.state_names() == ["verifying", "refused"], "nothing after verification ran"
    assert ls.session_id is None and not ls.hellos

    res = devicelab("run", "--db", str(db), "--package", str(bad), "--input",
                    "synthetic:32x32", "--frames", "5", timeout=60)
    assert res.returncode == 2, res.stderr
    lines = user_lines(res.stderr)
    assert lines == [f"devicelab: error: {msg}"], res.stderr
    assert "[deploying]" not in res.stderr and "[connecting]" not in res.stderr
    if db.exists():
        with SessionStore(db) as st:
            assert st.list_sessions() == []
    assert not list(tmp_path.rglob("escaped.txt")), "nothing was extracted outside"


class ChangesPackageAfterVerification(LocalDevice):
    """The built-in device, but the model file changes between the console's check and the
    agent loading it (a second user, a sync tool, a failing disk)."""

    def deploy(self, package: Package, source: InputSource, progress: ProgressFn | None = None,
               cancel: object = None) -> Deployment:
        dep = super().deploy(package, source, progress)
        flip_model_byte(Path(dep.package_dir), Path(dep.package_dir))
        return dep


def test_package_changed_after_verification_is_refused_by_the_agent(package: Path,
                                                                    db_path: Path) -> None:
    ls = Collect()
    result = Run(ChangesPackageAfterVerification(), RunRequest(str(package), "synthetic:32x32"),
                 db_path, ls).execute()
    assert result.status == "failed"
    assert result.error.startswith("package refused on the device: model.onnx: sha256 is")
    assert "\n" not in result.error
    assert ls.frames == [], "not one inference ran on the changed model"
    with SessionStore(db_path) as st:
        s = st.get_session(result.session_id)
        assert s["status"] == "failed" and st.frame_count(s["id"]) == 0
        assert any(e["code"] == "package_invalid" for e in st.events(s["id"]))
