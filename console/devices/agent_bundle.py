"""The agent bundle: one ``.pyz`` zipapp that is everything a device needs.

Built from this console's own sources so a device always runs the agent of
the console that drives it. Holds ``console.agent`` (with its runtime
backends) plus the three shared, dependency-free core modules (protocol,
manifest and errors) and stub package ``__init__`` files — nothing else,
which is what keeps the agent standalone (a stray import of another
console module fails every local test run, since the built-in device runs
this same bundle). The bundle is byte-for-byte
reproducible (fixed timestamps), so its sha256 names it in device caches.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import zipfile
from pathlib import Path

from console import __version__

_CONSOLE_DIR = Path(__file__).resolve().parent.parent
AGENT_MODULES = ("__init__.py", "__main__.py", "main.py", "errors.py", "pipeline.py",
                 "sources.py", "telemetry.py", "sysfs.py", "power.py", "facts.py",
                 "profiling.py")
#: the runtime backends (console.agent.runtimes): each imports its runtime only when
#: a package asks for it, so all of them ship and a device needs only the one it runs
RUNTIME_MODULES = ("__init__.py", "base.py", "onnxruntime_backend.py", "litert_backend.py",
                   "openvino_backend.py")
CORE_MODULES = ("protocol.py", "manifest.py", "errors.py", "media.py")
_STAMP = (2020, 1, 1, 0, 0, 0)


def _source(rel: str) -> bytes:
    return (_CONSOLE_DIR / rel).read_bytes()


def facts_source() -> bytes:
    """The probe script (sent on stdin to ``python3 -``)."""
    return _source("agent/facts.py")


def build_bundle_bytes() -> bytes:
    files: list[tuple[str, bytes]] = [
        ("__main__.py", b"import sys\nfrom console.agent.main import main\nsys.exit(main())\n"),
        ("console/__init__.py", b""),
        ("console/core/__init__.py", b""),
        ("console/agent/_version.py", f"VERSION = {__version__!r}\n".encode()),
    ]
    files += [(f"console/core/{m}", _source(f"core/{m}")) for m in CORE_MODULES]
    files += [(f"console/agent/{m}", _source(f"agent/{m}")) for m in AGENT_MODULES]
    files += [(f"console/agent/runtimes/{m}", _source(f"agent/runtimes/{m}"))
              for m in RUNTIME_MODULES]
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in sorted(files):
            info = zipfile.ZipInfo(name, _STAMP)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            zf.writestr(info, data)
    return buf.getvalue()


_cached: tuple[bytes, str] | None = None


def bundle() -> tuple[bytes, str]:
    """(bytes, sha256) of the bundle, built once per process."""
    global _cached
    if _cached is None:
        data = build_bundle_bytes()
        _cached = (data, hashlib.sha256(data).hexdigest())
    return _cached


def local_bundle_path() -> Path:
    """The bundle written to this machine's cache (for the built-in device)."""
    from console.core.paths import cache_dir

    data, digest = bundle()
    target = cache_dir() / "agent" / f"agent-{digest[:16]}.pyz"
    if target.is_file() and target.stat().st_size == len(data):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".agent-", dir=target.parent)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    os.replace(tmp, target)
    return target
