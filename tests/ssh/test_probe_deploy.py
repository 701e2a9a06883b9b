"""Probe and deploy against a real sshd: one probe command, hash-named cache, cancel, cap."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from helpers.faults import mounted_tmpfs

from console.core.inputs import parse_input
from console.core.package import open_package
from console.devices import agent_bundle
from console.devices.base import DeployCancelled, DeployProgress, DeviceError, DiskFull
from console.devices.ssh import MARKER, SSHConnection

from .conftest import SshEnv

pytestmark = pytest.mark.ssh
ROOT = Path(__file__).resolve().parents[2]
INT8 = ROOT / "resources" / "packages" / "digits-cnn-int8"


def _sha(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def test_probe_is_one_remote_command_and_reports_everything(
        ssh_env: SshEnv, monkeypatch: pytest.MonkeyPatch) -> None:
    ssh_env.trust()
    dev = ssh_env.device()
    dev.connect()
    commands: list[str] = []
    orig = SSHConnection.open_exec

    def spy(self: SSHConnection, command: str, timeout: float = 30.0):  # records, then runs
        commands.append(command)
        return orig(self, command, timeout)

    monkeypatch.setattr(SSHConnection, "open_exec", spy)
    try:
        facts = dev.probe()
    finally:
        dev.close()
    assert len(commands) == 1, commands
    assert facts["python_executable"] == sys.executable
    assert facts["python"] == ".".join(map(str, sys.version_info[:3]))
    for key in ("os", "kernel", "arch", "cpu_model", "cores", "ram_bytes", "disk_free_bytes",
                "thermal_zones", "cameras", "providers"):
        assert key in facts, key
    assert facts["disk_free_bytes"] > 0 and facts["workdir"] == str(ssh_env.workdir)
    assert facts["libraries"]["onnxruntime"] and facts["libraries"]["numpy"]
    assert "CPUExecutionProvider" in facts["providers"]
    assert facts["requirements"] == []


def test_probe_of_a_python_without_onnxruntime_says_what_to_install(
        ssh_env: SshEnv, tmp_path: Path) -> None:
    bare = tmp_path / "bare-venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(bare)], check=True,
                   timeout=120)
    ssh_env.trust()
    py = str(bare / "bin" / "python")
    dev = ssh_env.device(python=py)
    try:
        facts = dev.probe()
    finally:
        dev.close()
    missing = [r for r in facts["requirements"] if "missing" in r]
    assert missing and f"{py} -m pip install numpy onnxruntime" in missing[0]


def test_probe_with_a_missing_interpreter_is_one_line_with_the_fix(ssh_env: SshEnv) -> None:
    ssh_env.trust()
    dev = ssh_env.device(python="/nonexistent/python3")
    with pytest.raises(DeviceError) as ei:
        dev.probe()
    dev.close()
    msg = str(ei.value)
    assert "/nonexistent/python3" in msg and "--python" in msg and "\n" not in msg


def _deploy(dev, pkg_dir: Path, video: Path, **kw):
    events: list[DeployProgress] = []
    dep = dev.deploy(open_package(pkg_dir), parse_input(str(video)), events.append, **kw)
    return dep, events


def test_deploy_uploads_verified_items_once(ssh_env: SshEnv, demo_package: Path,
                                            demo_video: Path) -> None:
    ssh_env.trust()
    dev = ssh_env.device()
    try:
        dep, first = _deploy(dev, demo_package, demo_video)
        uploads = {e.stage for e in first if not e.cached and e.done == e.total}
        assert uploads == {"agent", "package", "input"}
        assert all(e.rate_bps > 0 for e in first if e.done == e.total and e.total)
        # where things are, by content hash, each with its completion marker
        wd = ssh_env.workdir
        _data, agent_sha = agent_bundle.bundle()
        assert dep.bundle_path == str(wd / "agent" / agent_sha / "agent.pyz")
        assert _sha(Path(dep.bundle_path)) == agent_sha
        pkg = open_package(demo_package)
        assert dep.package_dir == str(wd / "packages" / pkg.digest)
        assert dep.package_digest == pkg.digest
        for name in ("manifest.json", "model.onnx", "labels.txt"):
            assert _sha(Path(dep.package_dir) / name) == _sha(demo_package / name)
        assert dep.input_spec == str(wd / "inputs" / _sha(demo_video) / demo_video.name)
        for d in (Path(dep.bundle_path).parent, Path(dep.package_dir),
                  Path(dep.input_spec).parent):
            assert (d / MARKER).is_file()
        assert not list(wd.glob("*/.tmp-*")), "no partial uploads left behind"

        dep2, second = _deploy(dev, demo_package, demo_video)
        assert dep2 == dep
        assert {e.stage for e in second} == {"agent", "package", "input"}
        assert all(e.cached for e in second), "second deploy uploads nothing"
    finally:
        dev.close()


def test_incomplete_item_under_the_final_name_is_never_used(
        ssh_env: SshEnv, demo_package: Path, demo_video: Path) -> None:
    ssh_env.trust()
    pkg = open_package(demo_package)
    final = ssh_env.workdir / "packages" / pkg.digest
    final.mkdir(parents=True)
    (final / "model.onnx").write_bytes(b"half a model")  # no marker: an interrupted copy
    stale = ssh_env.workdir / "packages" / ".tmp-deadbeef-0000"
    stale.mkdir()
    (stale / "model.onnx").write_bytes(b"x")
    old = time.time() - 3 * 86400
    os.utime(stale, (old, old))
    dev = ssh_env.device()
    try:
        dep, events = _deploy(dev, demo_package, demo_video)
    finally:
        dev.close()
    assert not [e for e in events if e.stage == "package" and e.cached]
    assert _sha(Path(dep.package_dir) / "model.onnx") == _sha(demo_package / "model.onnx")
    assert (final / MARKER).is_file()
    assert not stale.exists(), "partial uploads older than a day are cleaned"


def test_cancel_during_upload_leaves_nothing_half_written(
        ssh_env: SshEnv, demo_package: Path, demo_video: Path) -> None:
    ssh_env.trust()
    dev = ssh_env.device()
    cancel = threading.Event()
    seen: list[DeployProgress] = []

    def progress(p: DeployProgress) -> None:
        seen.append(p)
        if p.stage == "input" and 0 < p.done < p.total:
            cancel.set()

    try:
        with pytest.raises(DeployCancelled, match="cancelled"):
            dev.deploy(open_package(demo_package), parse_input(str(demo_video)), progress,
                       cancel)
    finally:
        dev.close()
    assert any(p.stage == "input" and 0 < p.done < p.total for p in seen)
    inputs = ssh_env.workdir / "inputs"
    assert not list(inputs.iterdir()), "neither a temp folder nor a final item remains"


def test_cache_cap_evicts_oldest_first_but_never_the_current_run(
        ssh_env: SshEnv, demo_package: Path, tmp_path: Path) -> None:
    """Three recordings on the device, a cap that fits two: the least recently *used*
    goes (not the first uploaded: using a cached item counts), then with a cap that
    fits nothing only the current run's items stay."""
    clips = []
    import cv2
    import numpy as np

    rng = np.random.default_rng(7)
    for name in ("a", "b", "c"):  # three real (and different) recordings of noise
        clip = tmp_path / f"clip-{name}.avi"
        out = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (64, 64))
        for _ in range(20):
            out.write(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8))
        out.release()
        clips.append(clip)
    a, b, c = clips
    ssh_env.trust()
    dev = ssh_env.device()
    try:
        dep_a, _ = _deploy(dev, demo_package, a)
        dep_b, _ = _deploy(dev, demo_package, b)
        # a was uploaded first and b later; an hour ago, in that order (marker times
        # have one-second resolution over SFTP)
        now = time.time()
        for dep, age in ((dep_a, 3600), (dep_b, 3000)):
            os.utime(Path(dep.input_spec).parent / MARKER, (now - age, now - age))
        dep_a2, events = _deploy(dev, demo_package, a)  # a used again: b is now the oldest
        assert dep_a2 == dep_a and all(e.cached for e in events)
        usage = dev.cache_usage()
        per_clip = {Path(i["path"]).name: i["bytes"] for i in usage["items"]}
        # agent + package + two clips, and less than a clip to spare
        fits_two = usage["bytes"] + per_clip[Path(dep_b.input_spec).parent.name] // 2
        dev.cache_cap_bytes = fits_two  # room for the agent, the package and two clips
        dep_c, _ = _deploy(dev, demo_package, c)
        assert Path(dep_c.input_spec).exists() and Path(dep_a.input_spec).exists()
        assert not Path(dep_b.input_spec).parent.exists(), "the least recently used went"
        assert dev.cache_usage()["bytes"] <= fits_two

        dev.cache_cap_bytes = 1  # nothing fits: all but the current run's items go
        dep_d, _ = _deploy(dev, INT8, c)  # (the cap is applied after an upload)
        usage = dev.cache_usage()
    finally:
        dev.close()
    assert not Path(dep_a.input_spec).parent.exists() and not Path(dep_c.package_dir).exists()
    for kept in (dep_d.package_dir, dep_d.bundle_path, dep_d.input_spec):
        assert Path(kept).exists(), f"{kept} belongs to the current run"
    assert {Path(i["path"]).name for i in usage["items"]} == {
        Path(dep_d.package_dir).name, Path(dep_d.bundle_path).parent.name,
        Path(dep_d.input_spec).parent.name}


def test_disk_full_is_one_line_and_leaves_no_partial_item(
        ssh_env: SshEnv, demo_package: Path, demo_video: Path) -> None:
    # a small tmpfs is the device's full disk; no mount: skip locally, fail with CI=true
    with mounted_tmpfs(ssh_env.workdir, "256k") as mnt:
        ssh_env.trust()
        dev = ssh_env.device()
        try:
            with pytest.raises(DiskFull) as ei:
                _deploy(dev, demo_package, demo_video)
        finally:
            dev.close()
        msg = str(ei.value)
        assert "not enough space" in msg and str(mnt) in msg and "MB free" in msg
        assert "--workdir" in msg and "\n" not in msg
        assert not list(mnt.glob("*/.tmp-*"))


def test_disk_filling_up_during_the_upload_is_disk_full(
        ssh_env: SshEnv, demo_package: Path, demo_video: Path) -> None:
    """Enough space at the start; something else fills the disk mid-upload."""
    with mounted_tmpfs(ssh_env.workdir, "8m") as mnt:
        ssh_env.trust()
        dev = ssh_env.device()
        filled: list[int] = []

        def progress(p: DeployProgress) -> None:
            if p.stage == "input" and not p.cached and not filled:
                st = os.statvfs(mnt)
                free = st.f_bavail * st.f_frsize
                filled.append(free)
                with open(mnt / "someone-elses-log", "wb") as fh:
                    fh.write(b"\0" * max(0, free - 65536))

        try:
            with pytest.raises(DiskFull, match="not enough space") as ei:
                dev.deploy(open_package(demo_package), parse_input(str(demo_video)), progress)
        finally:
            dev.close()
        assert filled, f"the upload started with enough space ({ei.value})"
        assert not list((mnt / "inputs").iterdir()), "the partial upload was removed"


def test_cached_file_damaged_in_size_is_uploaded_again(
        ssh_env: SshEnv, demo_package: Path, demo_video: Path) -> None:
    ssh_env.trust()
    dev = ssh_env.device()
    try:
        dep, _ = _deploy(dev, demo_package, demo_video)
        model = Path(dep.package_dir) / "model.onnx"
        model.write_bytes(model.read_bytes()[:100])  # a half-finished copy over it
        dep2, events = _deploy(dev, demo_package, demo_video)
    finally:
        dev.close()
    assert dep2 == dep
    assert [e.cached for e in events if e.stage == "package"] == [False] * len(
        [e for e in events if e.stage == "package"])
    assert all(e.cached for e in events if e.stage != "package")
    assert _sha(model) == _sha(demo_package / "model.onnx")
