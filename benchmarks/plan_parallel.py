"""A plan's devices really run side by side: plan wall time vs each device's own sequence.

Builds its own SSH devices with the test lab (tests/helpers/netns.py, root only):
each a real OpenSSH sshd of its own in its own network namespace, reached over
its own veth link, its host key scanned and compared before it is trusted, saved
under a name in a private DEVICELAB_HOME. Every plan runs through
``console.session.plan_run.PlanRun`` exactly as ``devicelab plan run`` does
(SQLite log, verification, deploy, checks).

1. each device's cells alone (a plan naming only that device): its own
   sequence, wall time S_d, and this console's CPU while it ran;
2. the same cells as one plan over every device: wall time W.

Paced runs (``--fps 30``, ``--duration 10`` s a cell, 2 packages: 2 cells a
device) so each device's work is fixed and what is measured is the console's
cost of running devices at once. Prints W, every S_d, their sum,
W / max(S_d) — target <= 1.15 — and the console's CPU per connected device
(this process's CPU time, all threads, over wall time; the agents are the
devices' processes, not the console's, and are not counted).

``--capacity N`` then runs N namespace devices at a low rate (``--capacity-fps``,
one package) and prints the console's CPU per device and per frame. With the
30 fps figure that gives a cost per device c(f) = a + b·f (a: a device's fixed
cost, b: a frame's), and how many devices one console holds before its one
Python process (one core: the GIL) saturates — the figure docs/benchmarks.md
quotes. The devices share this machine's cores with the console here (the load
average is printed); on a real lab each agent has its own board.

    sudo .venv/bin/python benchmarks/plan_parallel.py [--devices 3] [--fps 30]
        [--duration 10] [--capacity 12] [--capacity-fps 5]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from helpers.netns import LabSpec, NetnsLab, build_lab, netns_missing_reason  # noqa: E402

PACKAGES = [ROOT / "resources" / "packages" / "digits-cnn",
            ROOT / "resources" / "packages" / "digits-cnn-int8"]
TARGET = 1.15


def cpu_s() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def make_lab(prefix: str, n: int, known_hosts: Path) -> NetnsLab:
    """``n`` namespace devices PREFIX1…, trusted (scanned key == the lab's key) and saved."""
    from console.devices.device_list import SavedDevice, add_device

    lab = build_lab([LabSpec(f"{prefix}{i + 1}") for i in range(n)])
    try:
        for d in lab:
            d.trust(known_hosts)
            add_device(SavedDevice(name=d.name, address=d.url, python=d.python,
                                   workdir=str(d.workdir), key_file=str(d.client_key)),
                       replace=True)
    except BaseException:
        lab.close()
        raise
    return lab


def run_plan(folder: Path, devices: list[str], packages: list[Path], fps: float,
             duration: float, db: Path) -> tuple[float, float, int, int]:
    """(wall s, console CPU s, exit status, frames received) of one plan."""
    from console.core.store import SessionStore
    from console.session.plan_check import check_plan
    from console.session.plan_run import PlanRun

    path = folder / f"plan-{len(devices)}-{devices[0]}.toml"
    quoted = ", ".join(f'"{d}"' for d in devices)
    pkgs = ", ".join(f'"{p}"' for p in packages)
    path.write_text(f'name = "bench"\ndevices = [{quoted}]\npackages = [{pkgs}]\n'
                    f'inputs = ["synthetic:64x64"]\n[run]\nfps = {fps}\nduration = {duration}\n')
    checked = check_plan(path)
    if not checked.ok:
        raise SystemExit("\n".join(checked.lines()))
    t0, c0 = time.perf_counter(), cpu_s()
    result = PlanRun(checked, db).execute()
    wall, cpu = time.perf_counter() - t0, cpu_s() - c0
    bad = [f"{o.cell.device}: {o.reason}" for o in result.outcomes if o.verdict != "pass"]
    if bad:
        print(f"  (cells that did not pass: {bad})")
    with SessionStore(db, readonly=True) as st:
        frames = sum(st.frame_count(o.session_id) for o in result.outcomes if o.session_id)
    return wall, cpu, result.exit_code, frames


def main() -> int:
    ap = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    ap.add_argument("--devices", type=int, default=3)
    ap.add_argument("--fps", type=float, default=30.0)
    ap.add_argument("--duration", type=float, default=10.0, help="seconds a cell")
    ap.add_argument("--capacity", type=int, default=12,
                    help="namespace devices for the capacity run (0: skip it)")
    ap.add_argument("--capacity-fps", type=float, default=5.0)
    args = ap.parse_args()
    reason = netns_missing_reason()
    if reason:
        print(f"plan_parallel: the network-namespace lab cannot be built here: {reason}",
              file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="plan-bench-") as tmp:
        root = Path(tmp)
        os.environ["DEVICELAB_HOME"] = str(root / "home")
        os.environ["HOME"] = str(root / "user")
        os.environ.pop("SSH_AUTH_SOCK", None)
        kh = root / "user" / ".ssh" / "known_hosts"
        kh.parent.mkdir(parents=True, mode=0o700)
        lab = make_lab("board", args.devices, kh)
        try:
            names = [d.name for d in lab]
            print(f"load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores; "
                  f"{len(names)} network-namespace SSH devices, {len(PACKAGES)} packages, "
                  f"{args.fps:g} fps, {args.duration:g} s a cell")
            own: dict[str, float] = {}
            for n in names:
                wall, cpu, code, frames = run_plan(root, [n], PACKAGES, args.fps,
                                                   args.duration, root / "own.db")
                own[n] = wall
                print(f"  {n} alone: {wall:6.2f} s  {frames} frames  console CPU "
                      f"{100 * cpu / wall:5.1f} % of a core (exit {code})")
            wall, cpu, code, frames = run_plan(root, names, PACKAGES, args.fps,
                                               args.duration, root / "plan.db")
        finally:
            lab.close()
        slowest, total = max(own.values()), sum(own.values())
        ratio = wall / slowest
        per_dev_30 = cpu / wall / len(names)
        print(f"plan over {len(names)} devices: {wall:6.2f} s  {frames} frames (exit {code})   "
              f"sum of the sequences {total:6.2f} s   slowest sequence {slowest:6.2f} s")
        print(f"  wall / slowest sequence = {ratio:.3f}  (target <= {TARGET})  "
              f"{'OK' if ratio <= TARGET else 'OVER TARGET'}   wall / sum = {wall / total:.3f}")
        print(f"  console CPU {100 * cpu / wall:5.1f} % of a core = {100 * per_dev_30:5.2f} % "
              f"per connected device at {args.fps:g} fps")
        if args.capacity:
            lab = make_lab("cap", args.capacity, kh)
            try:
                cwall, ccpu, ccode, cframes = run_plan(root, [d.name for d in lab],
                                                       PACKAGES[:1], args.capacity_fps,
                                                       args.duration, root / "cap.db")
            finally:
                lab.close()
            per_dev_low = ccpu / cwall / args.capacity
            print(f"capacity: {args.capacity} devices at {args.capacity_fps:g} fps: "
                  f"{cwall:6.2f} s  {cframes} frames (exit {ccode}), console CPU "
                  f"{100 * ccpu / cwall:5.1f} % of a core = {100 * per_dev_low:5.2f} % per "
                  f"device, {1000 * ccpu / max(cframes, 1):.3f} ms CPU per frame received "
                  "(run starts included)")
            # c(f) = a + b*f through the two points; the console is one process: one core
            b = max(0.0, (per_dev_30 - per_dev_low) / (args.fps - args.capacity_fps))
            a = max(0.0, per_dev_low - b * args.capacity_fps)
            print(f"  cost per device c(f) = {100 * a:.2f} % + {100 * b:.3f} % x fps of a core "
                  f"-> one console saturates one core at about {1 / per_dev_30:.0f} devices at "
                  f"{args.fps:g} fps, {1 / per_dev_low:.0f} at {args.capacity_fps:g} fps "
                  "(extrapolated)")
            print(f"  load average now {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
