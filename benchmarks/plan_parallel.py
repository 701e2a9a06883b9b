"""A plan's devices really run side by side: plan wall time vs each device's own sequence.

Starts its own SSH devices — each a real OpenSSH sshd of its own in its own
network namespace (tests/helpers/netns.py, root), or on 127.0.0.1 with
``--lab loopback`` (tests/helpers/sshd.py) — saved under names in a private
DEVICELAB_HOME, and runs, with ``console.session.plan_run.PlanRun`` exactly as ``devicelab
plan run`` does (SQLite log, verification, deploy, checks):

1. each device's cells alone (a plan naming only that device): its own
   sequence, wall time S_d, and this console's CPU while it ran;
2. the same cells as one plan over every device: wall time W.

Paced runs (``--fps 30``, ``--duration 10`` s a cell, 2 packages: 2 cells a
device) so the device's work is fixed and the figure is the console's
overhead in running devices at once. Prints W, every S_d, their sum, and
W / max(S_d) — target <= 1.15 — and the console's CPU per connected device
(process CPU time of this console, all threads, over wall time).

``--capacity N`` then runs N devices at a low rate (``--capacity-fps``, one
package) and prints the console's CPU per device and per frame, from which
docs/benchmarks.md extrapolates how many devices one console holds.

The devices here share this machine's cores with the console (and with
whatever else runs on it): the load average is printed; on a real lab each
agent has its own board's cores.

    .venv/bin/python benchmarks/plan_parallel.py [--devices 3] [--fps 30] [--duration 10]
        [--capacity 12] [--capacity-fps 5]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from helpers.sshd import SshServer, start_sshd  # noqa: E402

PACKAGES = [ROOT / "resources" / "packages" / "digits-cnn",
            ROOT / "resources" / "packages" / "digits-cnn-int8"]


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def netns_available() -> bool:
    try:
        from helpers.netns import netns_missing_reason
    except ImportError:
        return False
    return netns_missing_reason() is None


def make_devices(root: Path, n: int, prefix: str, lab: str,
                 cleanups: list[Callable[[], None]]) -> list[str]:
    """``n`` saved SSH devices named PREFIX1…: each its own sshd in its own network
    namespace (``lab="netns"``, tests/helpers/netns.py) or on 127.0.0.1 (``"loopback"``)."""
    from console.devices.device_list import SavedDevice, add_device

    kh = Path(os.environ["HOME"]) / ".ssh" / "known_hosts"
    names = [f"{prefix}{i + 1}" for i in range(n)]
    if lab == "netns":
        from helpers.netns import DeviceSpec, build_lab

        built = build_lab([DeviceSpec(name) for name in names])
        cleanups.append(built.close)
        for d in built:
            d.trust(kh)
            add_device(SavedDevice(name=d.name, address=d.url, python=d.python,
                                   workdir=str(d.workdir), key_file=str(d.client_key)))
        return names
    for name in names:
        srv: SshServer = start_sshd(root / name)
        cleanups.append(srv.stop)
        with kh.open("a") as fh:
            fh.write(srv.known_hosts_line())
        add_device(SavedDevice(name=name, address=srv.url, python=sys.executable,
                               workdir=str(root / name / "cache"), key_file=str(srv.client_key)))
    return names


def run_plan(folder: Path, devices: list[str], packages: list[Path], fps: float,
             duration: float, db: Path) -> tuple[float, float, int]:
    """(wall s, console CPU s, exit status) of one plan."""
    from console.session.plan_check import check_plan
    from console.session.plan_run import PlanRun

    path = folder / f"plan-{len(devices)}-{devices[0]}.toml"
    path.write_text(f'name = "bench"\ndevices = {devices!r}\n'.replace("'", '"')
                    + f"packages = {[str(p) for p in packages]!r}\n".replace("'", '"')
                    + 'inputs = ["synthetic:64x64"]\n'
                    + f"[run]\nfps = {fps}\nduration = {duration}\n")
    checked = check_plan(path)
    assert checked.ok, checked.lines()
    t0, c0 = time.perf_counter(), cpu_s()
    result = PlanRun(checked, db).execute()
    wall, cpu = time.perf_counter() - t0, cpu_s() - c0
    bad = [o.reason for o in result.outcomes if o.verdict != "pass"]
    if bad:
        print(f"  (cells that did not pass: {bad})")
    return wall, cpu, result.exit_code


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--devices", type=int, default=3)
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--capacity", type=int, default=12, help="devices for the capacity run "
                                                            "(0: skip it)")
    ap.add_argument("--capacity-fps", type=float, default=5.0)
    ap.add_argument("--lab", choices=("netns", "loopback"),
                    default="netns" if netns_available() else "loopback",
                    help="devices in network namespaces (root; the default where the lab "
                         "helper runs) or sshd servers on 127.0.0.1")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="plan-bench-") as tmp:
        root = Path(tmp)
        os.environ["DEVICELAB_HOME"] = str(root / "home")
        os.environ["HOME"] = str(root / "user")
        os.environ.pop("SSH_AUTH_SOCK", None)
        (root / "user" / ".ssh").mkdir(parents=True)
        cleanups: list[Callable[[], None]] = []
        try:
            names = make_devices(root, args.devices, "board", args.lab, cleanups)
            print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; "
                  f"{len(names)} {args.lab} devices, {len(PACKAGES)} packages, {args.fps:g} fps, "
                  f"{args.duration:g} s a cell")
            own: dict[str, float] = {}
            for n in names:
                wall, cpu, code = run_plan(root, [n], PACKAGES, args.fps, args.duration,
                                           root / "own.db")
                own[n] = wall
                print(f"  {n} alone: {wall:6.2f} s   console CPU {100 * cpu / wall:5.1f} % "
                      f"of a core (exit {code})")
            wall, cpu, code = run_plan(root, names, PACKAGES, args.fps, args.duration,
                                       root / "plan.db")
            slowest, total = max(own.values()), sum(own.values())
            print(f"plan over {len(names)} devices: {wall:6.2f} s (exit {code})   sum of the "
                  f"sequences {total:6.2f} s   slowest sequence {slowest:6.2f} s")
            print(f"  wall / slowest sequence = {wall / slowest:.3f}  (target <= 1.15)   "
                  f"wall / sum = {wall / total:.3f}")
            print(f"  console CPU {100 * cpu / wall:5.1f} % of a core = "
                  f"{100 * cpu / wall / len(names):5.1f} % per device at {args.fps:g} fps")
            if args.capacity:
                for undo in reversed(cleanups):  # the lab helper names links by position
                    undo()
                cleanups.clear()
                cnames = make_devices(root, args.capacity, "cap", args.lab, cleanups)
                wall, cpu, code = run_plan(root, cnames, PACKAGES[:1], args.capacity_fps,
                                           args.duration, root / "cap.db")
                per_dev = cpu / wall / len(cnames)
                frames_s = len(cnames) * args.capacity_fps
                print(f"capacity: {len(cnames)} devices at {args.capacity_fps:g} fps: "
                      f"{wall:6.2f} s (exit {code}), console CPU {100 * cpu / wall:5.1f} % of a "
                      f"core = {100 * per_dev:5.2f} % per device, "
                      f"{1000 * cpu / (frames_s * wall):.3f} ms CPU per frame received "
                      f"(run-start costs included)")
                print(f"  load average now {os.getloadavg()[0]:.2f}")
        finally:
            for undo in reversed(cleanups):
                undo()
    return 0


if __name__ == "__main__":
    sys.exit(main())
