"""Device Lab Console: run ONNX model packages on lab devices and keep an exact record.

Layers (enforced by import-linter, see pyproject): ``console.ui`` and
``console.cli`` -> ``console.session`` -> ``console.devices`` -> ``console.core``.
``console.agent`` is what runs on a device and stands alone.
"""

from __future__ import annotations


def _version() -> str:
    try:
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("device-lab-console")
        except PackageNotFoundError:
            pass
    except ImportError:  # pragma: no cover
        pass
    # Source tree without an install: read pyproject (the one place it lives).
    import re
    from pathlib import Path

    pyproject = Path(__file__).resolve().parent.parent / "pyproject.toml"
    try:
        m = re.search(r'^version\s*=\s*"([^"]+)"', pyproject.read_text(), re.M)
        if m:
            return m.group(1)
    except OSError:
        pass
    return "0+unknown"


__version__ = _version()
