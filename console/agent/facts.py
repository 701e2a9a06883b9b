"""Device facts: what the device is and whether it can run the agent.

Runs standalone too: the console's probe sends this file's source to the
device's Python on stdin (``python3 - WORKDIR``) — one short remote command,
before anything is deployed — and reads one JSON line back. Hence: standard
library only, Python 3.6+ syntax (old board images), every import of an
optional library guarded, every file read tolerant.
"""

import glob
import json
import os
import platform
import shutil
import socket
import sys
import time


def _read(path, limit=65536):
    try:
        with open(path, "rb") as fh:
            return fh.read(limit).decode("utf-8", "replace").strip()
    except (OSError, ValueError):
        return None


def _os_name():
    text = _read("/etc/os-release") or ""
    for line in text.splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip().strip('"')
    return platform.system()


def _cpu_model():
    text = _read("/proc/cpuinfo", 1 << 20) or ""
    for key in ("model name", "Hardware", "Model", "cpu model", "Processor"):
        for line in text.splitlines():
            if line.lower().startswith(key.lower()) and ":" in line:
                value = line.split(":", 1)[1].strip()
                if value:
                    return value
    return platform.processor() or None


def _mem_total():
    text = _read("/proc/meminfo") or ""
    for line in text.splitlines():
        if line.startswith("MemTotal:"):
            try:
                return int(line.split()[1]) * 1024
            except (IndexError, ValueError):
                return None
    return None


def _thermal_zones():
    zones = []
    for z in sorted(glob.glob("/sys/class/thermal/thermal_zone*")):
        name = _read(os.path.join(z, "type"))
        temp = _read(os.path.join(z, "temp"))
        entry = {"zone": os.path.basename(z), "name": name}
        try:
            entry["c"] = int(temp) / 1000.0 if temp is not None else None
        except ValueError:
            entry["c"] = None
        zones.append(entry)
    return zones


def _cameras():
    cams = []
    for dev in sorted(glob.glob("/dev/video*")):
        idx = dev[len("/dev/video"):]
        name = _read("/sys/class/video4linux/video%s/name" % idx)
        cams.append({"device": dev, "name": name})
    return cams


def _module_version(name):
    try:
        mod = __import__(name)
        return getattr(mod, "__version__", "unknown"), None
    except Exception as exc:  # ImportError, or a broken native library
        return None, "%s: %s" % (exc.__class__.__name__, str(exc).splitlines()[0][:200]
                                 if str(exc) else "")


def collect(workdir=None, with_libraries=True):
    """Everything the console records about a device. Missing facts are None."""
    facts = {
        "hostname": socket.gethostname(),
        "os": _os_name(),
        "kernel": platform.release(),
        "arch": platform.machine(),
        "cpu_model": _cpu_model(),
        "cores": os.cpu_count(),
        "ram_bytes": _mem_total(),
        "board": _read("/proc/device-tree/model"),
        "machine_id": _read("/etc/machine-id"),
        "python": platform.python_version(),
        "python_executable": sys.executable,
        "thermal_zones": _thermal_zones(),
        "cameras": _cameras(),
        "time": time.time(),
    }
    if workdir:
        wd = os.path.expanduser(workdir)
        probe_dir = wd
        while probe_dir and not os.path.exists(probe_dir):
            probe_dir = os.path.dirname(probe_dir)
        try:
            usage = shutil.disk_usage(probe_dir or "/")
            facts["workdir"] = wd
            facts["disk_free_bytes"] = usage.free
        except OSError:
            facts["workdir"] = wd
            facts["disk_free_bytes"] = None
    if with_libraries:
        libs = {}
        errors = {}
        for mod, key in (("numpy", "numpy"), ("onnxruntime", "onnxruntime"), ("cv2", "opencv")):
            ver, err = _module_version(mod)
            libs[key] = ver
            if err:
                errors[key] = err
        facts["libraries"] = libs
        facts["library_errors"] = errors
        providers = None
        if libs.get("onnxruntime"):
            try:
                import onnxruntime

                providers = list(onnxruntime.get_available_providers())
            except Exception:
                providers = None
        facts["providers"] = providers
    return facts


if __name__ == "__main__":
    _wd = sys.argv[1] if len(sys.argv) > 1 else None
    sys.stdout.write(json.dumps(collect(_wd)) + "\n")
    sys.stdout.flush()
