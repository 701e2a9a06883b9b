"""PyInstaller runtime hook: give the in-process agent the console's version.

A device's agent normally runs from the ``.pyz`` bundle, which carries a
generated ``console/agent/_version.py``. A frozen app starts its built-in
agent as ``devicelab --agent …`` instead, where that module does not exist,
and the agent would report ``0+unknown`` in its hello (and so in every
session record). The version is read from the copied distribution metadata,
the same source ``devicelab --version`` uses (pyproject is the one place it
is written), and served as that module.
"""

import sys
import types


def _install() -> None:
    try:
        from console import __version__
    except Exception:  # the agent then reports 0+unknown, as from a source tree
        return
    mod = types.ModuleType("console.agent._version")
    mod.VERSION = __version__  # type: ignore[attr-defined]
    sys.modules["console.agent._version"] = mod


_install()
