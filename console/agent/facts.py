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


#: runtime (a manifest's ``runtime``) -> (the pip requirement that installs it, the
#: modules that provide it, in the order the agent tries them)
RUNTIME_PACKAGES = {
    "onnxruntime": ("onnxruntime", ("onnxruntime",)),
    "litert": ("ai-edge-litert", ("ai_edge_litert", "tflite_runtime", "tensorflow")),
    "openvino": ("openvino", ("openvino",)),
}
#: LiteRT delegates that live in shared libraries of their own (XNNPACK is built in)
_LITERT_DELEGATES = (("libedgetpu.so.1", "Edge TPU"),
                     ("libtensorflowlite_gpu_delegate.so", "GPU"),
                     ("libQnnTFLiteDelegate.so", "Qualcomm QNN"),
                     ("libvx_delegate.so", "VeriSilicon VX (NXP NPU)"),
                     ("libethosu_delegate.so", "Arm Ethos-U"),
                     ("libhexagon_delegate.so", "Hexagon"))
_LIB_DIRS = ("/usr/lib", "/usr/local/lib", "/usr/lib/*-linux-gnu", "/lib/*-linux-gnu")


def _first_error(exc):
    text = str(exc).strip()
    return "%s: %s" % (exc.__class__.__name__, text.splitlines()[0][:200] if text else "")


def _short(version):
    v = str(version or "")
    out = ""
    for ch in v:
        if not (ch.isdigit() or ch == "."):
            break
        out += ch
    return out or v or "unknown"


def _ort_runtime():
    import onnxruntime

    return {"version": _short(onnxruntime.__version__), "module": "onnxruntime",
            "devices": list(onnxruntime.get_available_providers()), "kind": "providers"}


def _openvino_runtime():
    # importing openvino sends a usage event unless openvino_telemetry is missing: a
    # probe must send nothing anywhere (console.agent.runtimes.openvino_backend)
    sys.modules.setdefault("openvino_telemetry", None)  # type: ignore[arg-type]
    import openvino

    core = openvino.Core()
    devices = []
    for d in core.available_devices:
        try:
            devices.append("%s (%s)" % (d, core.get_property(d, "FULL_DEVICE_NAME")))
        except Exception:
            devices.append(d)
    return {"version": _short(getattr(openvino, "__version__", "")), "module": "openvino",
            "devices": devices, "kind": "devices"}


def _litert_runtime():
    import importlib

    mod = version = None
    errors = []
    for name in RUNTIME_PACKAGES["litert"][1]:
        try:
            top = importlib.import_module(name)
            importlib.import_module(name + ".lite" if name == "tensorflow" else
                                    name + ".interpreter")
            mod, version = name, getattr(top, "__version__", "unknown")
            break
        except Exception as exc:
            errors.append("%s: %s" % (name, _first_error(exc)))
    if mod is None:
        raise ImportError("; ".join(errors))
    found = ["XNNPACK (built in, CPU)"]
    for lib, what in _LITERT_DELEGATES:
        for d in _LIB_DIRS:
            if glob.glob(os.path.join(d, lib)):
                found.append("%s (%s)" % (what, lib))
                break
    return {"version": _short(version), "module": mod, "devices": found, "kind": "delegates"}


def _runtimes():
    """Every runtime the device's Python can import: version, module, devices/EPs/
    delegates; a missing one has ``version`` None, the import error, and ``pip``."""
    probes = {"onnxruntime": _ort_runtime, "litert": _litert_runtime,
              "openvino": _openvino_runtime}
    out = {}
    for name in sorted(probes):
        pip = RUNTIME_PACKAGES[name][0]
        try:
            entry = probes[name]()
        except Exception as exc:  # ImportError, or a broken native library
            entry = {"version": None, "error": _first_error(exc), "devices": []}
        entry["pip"] = pip
        out[name] = entry
    return out


def collect(workdir=None, with_libraries=True, with_runtimes=True):
    """Everything the console records about a device. Missing facts are None.

    ``with_runtimes`` imports every runtime to list it (the probe does; a run does
    not, so it loads only the runtime its package asks for)."""
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
    if with_runtimes:
        facts["runtimes"] = _runtimes()
    return facts


if __name__ == "__main__":
    _wd = sys.argv[1] if len(sys.argv) > 1 else None
    sys.stdout.write(json.dumps(collect(_wd)) + "\n")
    sys.stdout.flush()
