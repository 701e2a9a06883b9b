"""Fault 6: the device's disk is full during deploy.

The device's work dir is a small real tmpfs (root + ``mount``; skipped with
the reason locally, a failure under ``CI=true``). Two ways to fill it:

- too small from the start: the deploy is refused before uploading;
- enough space at the start, then something else on the device takes it
  while the upload runs (the test fills the tmpfs as the first item lands).

Expected: the session ``failed`` with one line (where, how much is needed,
what to do); no half-written package is ever used: nothing is left under a
final name, no temp folder stays, and once space is back the next run
uploads a verified package and completes.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest
from helpers.faults import Collect, devicelab, free_bytes, mounted_tmpfs, user_lines

from console.core.package import open_package
from console.core.store import SessionStore
from console.devices.base import AgentOptions, DeployProgress
from console.devices.ssh import MARKER
from console.session.run import Run, RunRequest

pytestmark = pytest.mark.ssh


def _nothing_half_written(workdir: Path) -> None:
    leftovers = [p for p in workdir.glob("*/*") if p.name.startswith(".tmp-")]
    assert leftovers == [], f"temp folders left on the device: {leftovers}"
    for item in workdir.glob("*/*"):
        assert (item / MARKER).is_file(), f"{item} sits under a final name without its marker"


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_too_small_disk_is_refused_in_one_line(ssh_env, demo_package: Path, demo_video: Path,
                                               tmp_path: Path) -> None:
    with mounted_tmpfs(ssh_env.workdir, "256k") as wd:
        res = devicelab("devices", "add", "bench", ssh_env.url, "--python", sys.executable,
                        "--workdir", str(wd), "--key-file", str(ssh_env.server.client_key),
                        env=ssh_env.env())
        assert res.returncode == 0, res.stderr
        ssh_env.trust()
        db = tmp_path / "s.db"
        res = devicelab("run", "--device", "bench", "--db", str(db), "--package",
                        str(demo_package), "--input", str(demo_video), env=ssh_env.env())
        assert res.returncode == 1, res.stderr
        lines = user_lines(res.stderr)
        assert len(lines) == 1, res.stderr
        line = lines[0]
        assert line.startswith("devicelab: run failed: not enough space on bench")
        assert str(wd) in line and "MB free" in line and "--workdir" in line
        assert line.endswith("(frames kept: 0)")
        _nothing_half_written(wd)
        assert not list(wd.glob("packages/*")), "no package folder at all"
    with SessionStore(db) as st:
        (s,) = st.list_sessions()
        assert s["status"] == "failed" and s["error"].startswith("not enough space")
        assert any(e["code"] == "deploy_failed" for e in st.events(s["id"]))


class FillsTheDiskDuringUpload(Collect):
    """The device's disk fills up (another process's log) while the 2 MB recording is being
    uploaded (``stage="input"``: after its first chunk, with more to come)."""

    def __init__(self, workdir: Path, stage: str) -> None:
        super().__init__()
        self.workdir = workdir
        self.stage = stage
        self.filled_at: int | None = None

    def deploy_progress(self, p: DeployProgress) -> None:
        super().deploy_progress(p)
        if self.filled_at is None and not p.cached and p.stage == self.stage and \
                0 < p.done < p.total:
            free = free_bytes(self.workdir)
            self.filled_at = free
            with open(self.workdir / "someone-elses.log", "wb") as fh:
                fh.write(b"\0" * max(0, free - 16384))


def _fill_mid_deploy(ssh_env, demo_package: Path, demo_video: Path, db_path: Path,
                     stage: str) -> str:
    """Fill the disk mid-deploy; check nothing half-written exists or runs, and that the next
    run (space back) completes on a verified package. Returns the failed run's error line."""
    pkg = open_package(demo_package)
    with mounted_tmpfs(ssh_env.workdir, "4m") as wd:
        ssh_env.trust()
        dev = ssh_env.device()
        try:
            ls = FillsTheDiskDuringUpload(wd, stage)
            req = RunRequest(str(demo_package), str(demo_video), AgentOptions(frames=30))
            result = Run(dev, req, db_path, ls).execute()
            assert ls.filled_at is not None, "the upload started with enough space"
            assert result.status == "failed"
            assert "\n" not in result.error
            assert not ls.hellos, "no agent ran"
            _nothing_half_written(wd)
            assert not (wd / "packages" / pkg.digest).exists()

            # Space is back: the next run uploads, verifies and runs the real package.
            (wd / "someone-elses.log").unlink()
            again = Run(dev, req, db_path).execute()
        finally:
            dev.close()
        assert again.status == "completed", again.error
        assert again.summary["frames"] == 30
        final = wd / "packages" / pkg.digest
        assert (final / MARKER).is_file()
        assert _sha(final / "model.onnx") == _sha(demo_package / "model.onnx")
        _nothing_half_written(wd)
    with SessionStore(db_path) as st:
        first = st.get_session(result.session_id)
        assert first["status"] == "failed" and st.frame_count(first["id"]) == 0
    return str(result.error)


def test_disk_filling_up_mid_deploy_never_leaves_a_usable_half_package(
        ssh_env, demo_package: Path, demo_video: Path, db_path: Path) -> None:
    error = _fill_mid_deploy(ssh_env, demo_package, demo_video, db_path, "input")
    # paramiko drops the error of pipelined writes still in flight at close; the device
    # checks each file's size after the upload, so this is "not enough space" either way
    # (it used to read "arrived damaged" about half the time).
    assert error.startswith(f"not enough space on {ssh_env.url} in "), error
    assert "--workdir" in error


def test_package_damaged_on_the_device_after_deploy_is_never_run(
        ssh_env, demo_package: Path, db_path: Path) -> None:
    """Last line of defence: the agent re-checks every hash before loading."""
    pkg = open_package(demo_package)
    ssh_env.trust()
    dev = ssh_env.device()
    try:
        req = RunRequest(str(demo_package), "synthetic:32x32", AgentOptions(frames=5))
        assert Run(dev, req, db_path).execute().status == "completed"
        model = ssh_env.workdir / "packages" / pkg.digest / "model.onnx"
        data = bytearray(model.read_bytes())
        data[len(data) // 2] ^= 0xFF  # bit rot / a half-finished copy under the final name
        model.write_bytes(bytes(data))
        ls = Collect()
        result = Run(dev, req, db_path, ls).execute()
    finally:
        dev.close()
    assert result.status == "failed"
    assert result.error.startswith("package refused on the device: model.onnx: sha256 is")
    assert ls.frames == []



def test_damaged_cache_items_are_replaced(ssh_env, demo_package: Path, db_path: Path) -> None:
    """A cached package damaged on the device is not a dead end: a short file is re-uploaded
    at once (cache hits check sizes); a same-size corruption is refused by the agent once,
    dropped, and uploaded again at the next run."""
    pkg = open_package(demo_package)
    ssh_env.trust()
    dev = ssh_env.device()
    model = ssh_env.workdir / "packages" / pkg.digest / "model.onnx"
    try:
        req = RunRequest(str(demo_package), "synthetic:32x32", AgentOptions(frames=5))
        assert Run(dev, req, db_path).execute().status == "completed"
        model.write_bytes(model.read_bytes()[:100])  # a half-finished copy
        short = Run(dev, req, db_path).execute()
        assert short.status == "completed", short.error
        assert _sha(model) == _sha(demo_package / "model.onnx")

        data = bytearray(model.read_bytes())
        data[len(data) // 2] ^= 0xFF  # bit rot: same size, wrong bytes
        model.write_bytes(bytes(data))
        refused = Run(dev, req, db_path).execute()
        healed = Run(dev, req, db_path).execute()
    finally:
        dev.close()
    assert refused.status == "failed" and refused.error.startswith(
        "package refused on the device: model.onnx: sha256 is")
    assert healed.status == "completed", healed.error
    assert _sha(model) == _sha(demo_package / "model.onnx")
    _nothing_half_written(ssh_env.workdir)
