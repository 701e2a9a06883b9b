"""Whole runs over SSH through ``console.session.run.Run``, recorded in a real SQLite file.

The device is this machine behind a real sshd, so the runs must match local
runs frame for frame, stopping must leave no agent behind (checked with
``pgrep`` on the device), and a cut or frozen link must end the run as
``interrupted`` with every frame received so far kept.
"""

from __future__ import annotations

import os
import shutil
import signal
import time
import uuid
from pathlib import Path

import pytest
from helpers.faults import Collect, in_thread

from console.core.store import SessionStore
from console.devices.base import AgentOptions, DeployProgress
from console.devices.local import LocalDevice
from console.session.run import Run, RunRequest

from .conftest import SshEnv, agent_pids, wait_no_agent

pytestmark = pytest.mark.ssh
ROOT = Path(__file__).resolve().parents[2]
TRUTH = ROOT / "resources" / "recordings" / "digits-demo.truth.csv"


def _video_frames(video: Path) -> int:
    import cv2

    return int(cv2.VideoCapture(str(video)).get(cv2.CAP_PROP_FRAME_COUNT))


def test_ssh_run_is_equivalent_to_a_local_run(ssh_env: SshEnv, demo_package: Path,
                                              demo_video: Path, db_path: Path) -> None:
    ssh_env.trust()
    req = RunRequest(str(demo_package), str(demo_video), AgentOptions(preview_fps=5),
                     truth=str(TRUTH))
    local_ls = Collect()
    local = Run(LocalDevice(), req, db_path, local_ls).execute()
    dev = ssh_env.device()
    try:
        ls = Collect()
        remote = Run(dev, req, db_path, ls).execute()
        again_ls = Collect()
        again = Run(dev, req, db_path, again_ls).execute()
    finally:
        dev.close()
    n = _video_frames(demo_video)
    assert local.status == remote.status == again.status == "completed", remote.error
    assert len(ls.frames) == len(local_ls.frames) == n
    assert [f.out for f in ls.frames] == [f.out for f in local_ls.frames]
    assert remote.summary["accuracy"] == local.summary["accuracy"]
    assert remote.summary["missing_frames"] == 0
    # the first run uploaded, the second found everything on the device
    assert {p.stage for p in ls.deploys if not p.cached} == {"agent", "package", "input"}
    assert again_ls.deploys and all(p.cached for p in again_ls.deploys)
    with SessionStore(db_path) as st:
        s = st.get_session(remote.session_id)
        assert s["status"] == "completed" and st.frame_count(s["id"]) == n
        assert s["device_kind"] == "ssh" and s["device_address"] == ssh_env.url
        assert s["device_identity"]["host_key_sha256"] == ssh_env.server.fingerprint()
        assert s["device_identity"]["port"] == ssh_env.server.port
        assert s["device_facts"]["python_executable"] == ssh_env.python
        assert s["input_sha256"] == st.get_session(local.session_id)["input_sha256"]
        assert s["package_digest"] == st.get_session(local.session_id)["package_digest"]


def test_stop_leaves_no_agent_on_the_device(ssh_env: SshEnv, demo_package: Path,
                                            db_path: Path) -> None:
    dev, run, ls, t, box = ssh_env.start_paced_run(demo_package, db_path)
    try:
        ls.wait_frames(20)
        running = agent_pids(str(ssh_env.workdir))
        assert running == [ls.hellos[0].pid], "the channel's process is the agent itself"
        assert run.proc is not None and run.proc.pid == ls.hellos[0].pid
        run.stop()
        t.join(60)
    finally:
        run.abort()
        t.join(60)
        dev.close()
    assert box["result"].status == "stopped"
    assert wait_no_agent(str(ssh_env.workdir)) == []
    with SessionStore(db_path) as st:
        assert st.frame_count(box["result"].session_id) == len(ls.frames) >= 20


def test_abort_kills_the_agent_on_the_device(ssh_env: SshEnv, demo_package: Path,
                                             db_path: Path) -> None:
    dev, run, ls, t, box = ssh_env.start_paced_run(demo_package, db_path)
    try:
        ls.wait_frames(10)
        run.abort()
        t.join(60)
        assert run.proc is not None and run.proc.wait(5) == -signal.SIGKILL
    finally:
        dev.close()
    assert box["result"].status == "stopped"
    assert wait_no_agent(str(ssh_env.workdir)) == []


def test_agent_killed_on_the_device_is_reported_with_its_signal(
        ssh_env: SshEnv, demo_package: Path, db_path: Path) -> None:
    """Someone else SIGTERMs the agent: sshd's exit-signal reaches the session's error."""
    dev, run, ls, t, box = ssh_env.start_paced_run(demo_package, db_path)
    try:
        ls.wait_frames(10)
        os.kill(ls.hellos[0].pid, signal.SIGTERM)
        t.join(60)
    finally:
        if t.is_alive():
            run.abort()
            t.join(30)
        dev.close()
    result = box["result"]
    assert result.status == "failed"
    assert "killed by SIGTERM" in result.error, result.error
    with SessionStore(db_path) as st:
        assert st.frame_count(result.session_id) == len(ls.frames) >= 10


def test_same_size_damage_in_the_cache_heals_after_one_refusal(
        ssh_env: SshEnv, demo_package: Path, db_path: Path) -> None:
    """The agent's hash check refuses a bit-flipped cached model; the next run re-uploads."""
    ssh_env.trust()
    dev = ssh_env.device()
    req = RunRequest(str(demo_package), "synthetic:32x32", AgentOptions(frames=5))
    try:
        first = Run(dev, req, db_path).execute()
        assert first.status == "completed", first.error
        model = next(ssh_env.workdir.glob("packages/*/model.onnx"))
        data = bytearray(model.read_bytes())
        data[len(data) // 2] ^= 0xFF  # same size: only a hash can tell
        model.write_bytes(bytes(data))
        refused = Run(dev, req, db_path).execute()
        healed_ls = Collect()
        healed = Run(dev, req, db_path, healed_ls).execute()
    finally:
        dev.close()
    assert refused.status == "failed"
    assert refused.error.startswith("package refused on the device: model.onnx")
    assert healed.status == "completed", healed.error
    assert [p.cached for p in healed_ls.deploys if p.stage == "package"][-1] is False
    assert model.read_bytes() == (demo_package / "model.onnx").read_bytes()


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[-1].split()[0] != "Z"
    except OSError:
        return False


def _cut_link_mid_run(ssh_env: SshEnv, demo_package: Path, demo_video: Path, db_path: Path,
                      sig: signal.Signals) -> None:
    ssh_env.trust()
    dev = ssh_env.device()
    ls = Collect()
    req = RunRequest(str(demo_package), str(demo_video), AgentOptions(fps=60, loop=True))
    run = Run(dev, req, db_path, ls)
    t, box = in_thread(run)
    cut: list[int] = []
    try:
        ls.wait_frames(40)
        t_cut = time.monotonic()
        cut = ssh_env.server.signal_connections(sig)
        assert cut, "there was a connection to cut"
        t.join(60)
        assert not t.is_alive(), "the run hung on a dead link"
        noticed = time.monotonic() - t_cut
        print(f"\n{sig.name}: link loss noticed after {noticed:.1f} s")
        # generous: seconds (keepalives, 5 s of silence), not TCP's minutes
        assert noticed < 20, f"took {noticed:.1f} s to notice the {sig.name}ed link"
        result = box["result"]
        assert result.status == "interrupted", result.error
        assert "lost" in result.error
        with SessionStore(db_path) as st:
            s = st.get_session(result.session_id)
            assert s["status"] == "interrupted"
            # every frame the console received is in the log
            assert st.frame_count(s["id"]) == len(ls.frames) >= 40
            assert s["summary"]["frames"] == len(ls.frames)
        old_agent = ls.hellos[0].pid
        # The device is back: a new run works on the same device object. (A frozen
        # link's sshd is still stopped and still holds the old agent: the device
        # stops that orphan when it reconnects.)
        again = Run(dev, RunRequest(str(demo_package), "synthetic:64x64",
                                    AgentOptions(frames=25)), db_path).execute()
        assert again.status == "completed" and again.summary["frames"] == 25
        if sig == signal.SIGSTOP:
            assert all(_alive(p) for p in cut), "the frozen sshd is still there"
        assert not _alive(old_agent), "no agent of the lost run is left on the device"
    finally:
        if t.is_alive():
            run.abort()
            t.join(30)
        dev.close()
        for p in cut:
            for s_ in (signal.SIGCONT, signal.SIGKILL):
                try:
                    os.kill(p, s_)
                except ProcessLookupError:
                    pass
    assert wait_no_agent(str(ssh_env.workdir)) == []


def test_killed_connection_gives_interrupted_session_with_frames_kept(
        ssh_env: SshEnv, demo_package: Path, demo_video: Path, db_path: Path) -> None:
    _cut_link_mid_run(ssh_env, demo_package, demo_video, db_path, signal.SIGKILL)


def test_frozen_link_is_detected_by_keepalives(
        ssh_env: SshEnv, demo_package: Path, demo_video: Path, db_path: Path) -> None:
    """The server stops answering but the TCP connection stays up (network gone)."""
    _cut_link_mid_run(ssh_env, demo_package, demo_video, db_path, signal.SIGSTOP)


class FreezeMidUpload(Collect):
    """Freezes the device's sshd (SIGSTOP: TCP stays up, nothing answers) mid-upload."""

    def __init__(self, ssh_env: SshEnv) -> None:
        super().__init__()
        self.ssh_env = ssh_env
        self.frozen: list[int] = []
        self.t_freeze = 0.0

    def deploy_progress(self, p: DeployProgress) -> None:
        super().deploy_progress(p)
        if not self.frozen and not p.cached and p.stage == "input" and 0 < p.done < p.total:
            self.frozen = self.ssh_env.server.signal_connections(signal.SIGSTOP)
            self.t_freeze = time.monotonic()


def test_link_dying_during_the_upload_is_noticed_in_seconds(
        ssh_env: SshEnv, demo_package: Path, demo_video: Path, db_path: Path) -> None:
    """A dead link mid-deploy used to take ~35 s to notice (the whole upload ran
    with a 30 s grace); every chunk the link accepts now counts as an answer, so
    the grace is short."""
    ssh_env.trust()
    dev = ssh_env.device()
    ls = FreezeMidUpload(ssh_env)
    run = Run(dev, RunRequest(str(demo_package), str(demo_video), AgentOptions(frames=5)),
              db_path, ls)
    t, box = in_thread(run)
    try:
        t.join(90)
        assert not t.is_alive(), "the run hung on a dead link during deploy"
        assert ls.frozen, "the upload of the recording was never seen in progress"
        noticed = time.monotonic() - ls.t_freeze
        print(f"\nlink frozen mid-upload: noticed after {noticed:.1f} s")
        result = box["result"]
        assert result.status == "interrupted", result.error
        assert result.error.startswith(f"connection to {dev.describe()} lost during deploy")
        assert "no answer from the device" in result.error and "\n" not in result.error
        assert noticed < 20, f"took {noticed:.1f} s to notice the dead link (was ~35 s)"
        assert ls.frames == []
    finally:
        if t.is_alive():
            run.abort()
            t.join(30)
        dev.close()
        for pid in ls.frozen:
            for sig in (signal.SIGCONT, signal.SIGKILL):
                try:
                    os.kill(pid, sig)
                except ProcessLookupError:
                    pass


def test_hostile_file_names_and_work_dir_never_reach_a_shell(
        ssh_env: SshEnv, demo_package: Path, demo_video: Path, db_path: Path,
        tmp_path: Path) -> None:
    tag = uuid.uuid4().hex[:8]
    hostile = (f"clip 'one' \"two\" $(cd;touch pwned-{tag}) `touch pwned2-{tag}` "
               f";touch pwned3-{tag}; $HOME & .avi")
    video = tmp_path / hostile
    shutil.copyfile(demo_video, video)
    ssh_env.workdir = tmp_path / f"work $(touch /tmp/pwned-{tag}) 'q' \"dq\" ;x"
    ssh_env.trust()
    dev = ssh_env.device()
    try:
        result = Run(dev, RunRequest(str(demo_package), str(video), AgentOptions(frames=30)),
                     db_path).execute()
    finally:
        dev.close()
    assert result.status == "completed", result.error
    assert result.summary["frames"] == 30
    uploaded = list(ssh_env.workdir.glob("inputs/*/*.avi"))
    assert [p.name for p in uploaded] == [hostile]
    for where in (Path("/tmp"), Path.home(), Path("/root"), tmp_path, ssh_env.workdir):
        assert not list(where.glob(f"pwned*-{tag}")) and not list(where.glob(f"pwned-{tag}")), \
            f"a remote shell executed part of a file name in {where}"
