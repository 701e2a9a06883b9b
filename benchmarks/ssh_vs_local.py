"""The same run over SSH to 127.0.0.1 and on the built-in device.

Starts its own OpenSSH sshd (tests/helpers/sshd.py: private host key, client
key, no password auth), so the SSH device is this very machine and the only
difference between the two columns is the transport: SSH channel + keepalive
watchdog versus a local pipe. Every run goes through
``console.session.run.Run`` with its SQLite recording, like ``devicelab run``.

Prints, for the demo package on the demo recording (looped):

* frames/s on each device (median of ``--repeats`` interleaved runs) and the
  ratio ssh/local — target >= 0.9;
* time from "start" (``Run.execute`` called, a fresh device object, so
  connecting is included) to the first result, with a warm device cache
  (target < 1 s) and a cold one (empty work dir: agent, package and recording
  uploaded and verified on the device), next to the local figure;
* what the SSH transport costs in CPU per frame (this console's extra CPU
  time plus the sshd session's), a figure machine load does not distort —
  unlike frames/s when other jobs share the cores (the load average is
  printed; on a busy 2-core machine the agent, sshd and the console compete,
  and a real device does not share its cores with the console).

    .venv/bin/python benchmarks/ssh_vs_local.py [--frames 10000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from helpers.sshd import SshServer, start_sshd  # noqa: E402

VIDEO = ROOT / "resources" / "recordings" / "digits-demo.avi"
PACKAGE = ROOT / "resources" / "packages" / "digits-cnn"


class FirstResult:
    """A RunListener that notes when the first frame arrives."""

    def __init__(self) -> None:
        from console.session.run import RunListener

        class _L(RunListener):
            def __init__(self, outer: FirstResult) -> None:
                self.outer = outer

            def frame(self, msg: object) -> None:
                if self.outer.t_first is None:
                    self.outer.t_first = time.perf_counter()

        self.t_first: float | None = None
        self.listener = _L(self)


def ssh_device(srv: SshServer, workdir: Path):  # type: ignore[no-untyped-def]
    from console.devices.ssh import open_ssh_device

    return open_ssh_device(srv.url, key_file=str(srv.client_key), python=sys.executable,
                           workdir=str(workdir), accept_host_key_fingerprint=srv.fingerprint())


def _sshd_cpu(srv: SshServer) -> float:
    """CPU seconds used so far by the server's per-connection processes."""
    total = 0.0
    for pid in srv.connection_pids():
        try:
            with open(f"/proc/{pid}/stat") as fh:
                f = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")
    return total


def one_run(device, frames: int, db: Path,  # type: ignore[no-untyped-def]
            srv: SshServer | None = None) -> tuple[float, float, int, float]:
    """(frames/s, s from start to first result, frames, transport CPU s) of one run.

    CPU is this process's CPU time (the agent is another process either way)
    plus, over SSH, the sshd session's.
    """
    from console.devices.base import AgentOptions
    from console.session.run import Run, RunRequest

    req = RunRequest(str(PACKAGE), str(VIDEO),
                     AgentOptions(frames=frames, loop=True, preview_fps=0.0, telemetry_ms=100.0))
    fr = FirstResult()
    cpu0 = os.times()
    t0 = time.perf_counter()
    try:
        res = Run(device, req, db, fr.listener).execute()
        cpu1 = os.times()
        server = _sshd_cpu(srv) if srv is not None else 0.0
    finally:
        device.close()
    assert res.status == "completed", res.error
    assert fr.t_first is not None
    s = res.summary or {}
    cpu = (cpu1.user - cpu0.user) + (cpu1.system - cpu0.system) + server
    return float(s["fps"]), fr.t_first - t0, int(s["frames"]), cpu


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=10000)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    from console.devices.local import LocalDevice

    load0 = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="dl-bench-") as tmp:
        t = Path(tmp)
        os.environ["DEVICELAB_HOME"] = str(t / "home")
        srv = start_sshd(t / "sshd")
        try:
            warm_dir = t / "device-warm"
            one_run(ssh_device(srv, warm_dir), 20, t / "prime.db", srv)  # fill the warm cache
            local_fps, ssh_fps, ratios = [], [], []
            local_first, warm_first, cold_first = [], [], []
            local_cpu, ssh_cpu = [], []
            for r in range(args.repeats):  # interleaved so machine-load drift hits both
                lf, first, n, cpu = one_run(LocalDevice(), args.frames, t / f"l{r}.db")
                assert n == args.frames
                local_fps.append(lf)
                local_first.append(first)
                local_cpu.append(cpu)
                sf, first, n, cpu = one_run(ssh_device(srv, warm_dir), args.frames,
                                            t / f"s{r}.db", srv)
                assert n == args.frames
                ssh_fps.append(sf)
                warm_first.append(first)
                ssh_cpu.append(cpu)
                ratios.append(sf / lf)
                _fps, first, _n, _cpu = one_run(ssh_device(srv, t / f"device-cold-{r}"), 20,
                                                t / f"c{r}.db", srv)
                cold_first.append(first)
        finally:
            srv.stop()
    load1 = os.getloadavg()
    med = statistics.median
    lf, sf = med(local_fps), med(ssh_fps)
    extra_us = (med(ssh_cpu) - med(local_cpu)) / args.frames * 1e6
    print(f"demo package {PACKAGE.name} on {VIDEO.name} (looped), {args.frames} frames "
          f"x {args.repeats}, telemetry 10 Hz, no previews; SSH to 127.0.0.1; "
          f"{os.cpu_count()} cores, load average {load0[0]:.1f} before, {load1[0]:.1f} after")
    print(f"  local       {lf:9.1f} frames/s   runs: {', '.join(f'{x:.0f}' for x in local_fps)}")
    print(f"  ssh         {sf:9.1f} frames/s   runs: {', '.join(f'{x:.0f}' for x in ssh_fps)}")
    print(f"  ratio ssh/local  {sf / lf:.3f} (medians), {med(ratios):.3f} (median of paired "
          f"runs: {', '.join(f'{x:.2f}' for x in ratios)})   (target >= 0.9)")
    print(f"  transport CPU (console + sshd beyond local): {extra_us:+.1f} us/frame "
          f"(console+sshd {med(ssh_cpu):.2f} s vs console {med(local_cpu):.2f} s per run)")
    print("time from start to first result (median; connect + deploy + agent cold start):")
    print(f"  local                {med(local_first):6.3f} s")
    print(f"  ssh, warm cache      {med(warm_first):6.3f} s   (target < 1 s)   runs: "
          + ", ".join(f"{x:.3f}" for x in warm_first))
    print(f"  ssh, cold cache      {med(cold_first):6.3f} s   runs: "
          + ", ".join(f"{x:.3f}" for x in cold_first))


if __name__ == "__main__":
    main()
