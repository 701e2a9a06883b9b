"""What every frozen Device Lab Console holds, shared by the Linux, Windows and macOS specs.

The specs (``installers/<os>/*.spec``) only add what is particular to their
platform (icon format, .app bundle, console window); everything here must be
the same on all three, because the frozen app has three jobs that each need
files PyInstaller would not find by following imports:

* ``devicelab`` (the window) and ``devicelab <command>`` (the CLI): the
  ``console`` package, PySide6, pyqtgraph, onnxruntime, OpenCV, paramiko.
* ``devicelab --agent …``: the built-in device starts the agent through the
  frozen binary itself (there is no separate Python), see
  ``console.devices.local.agent_argv``.
* Deploying to SSH devices: ``console.devices.agent_bundle`` builds the
  agent ``.pyz`` at run time from the console's own *source files* read from
  disk (``console/agent/*.py``, ``console/core/protocol.py`` and
  ``manifest.py``). They are shipped as data at the same relative paths, so
  the frozen app builds a bundle byte-identical to the source tree's (the
  smoke script checks the sha256).

Also the demo resources (``console/resources``: where
``console.core.paths.resources_dir`` looks first), the distribution metadata
(``--version``, the About box and every session record read the version
from it; pyproject is the one place it is written) and a runtime hook that
gives the in-process agent the same version.

This module runs inside PyInstaller, in the build venv, where ``console`` is
installed from the wheel (so ``console/resources`` exists there).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from PyInstaller.utils.hooks import collect_submodules, copy_metadata

HERE = Path(__file__).resolve().parent
DIST_NAME = "device-lab-console"

# Pulled in by optional imports (pyqtgraph probes every Qt binding and a few
# plotting/array libraries) but never used by the console; some are large. (scipy is
# not among them: every compare and budget verdict uses scipy.stats.)
EXCLUDES = [
    "tkinter", "_tkinter", "PyQt5", "PyQt6", "PySide2", "matplotlib", "IPython",
    "jupyter_client", "ipykernel", "pandas", "torch", "sklearn", "onnx",
    "cupy", "numba", "h5py", "pytest", "OpenGL",
]

# Qt modules the window does not use; PySide6's hook would otherwise collect
# their libraries when pyqtgraph's optional imports mention them.
QT_EXCLUDES = [
    "PySide6.QtQml", "PySide6.QtQuick", "PySide6.QtQuickWidgets", "PySide6.QtSql",
    "PySide6.QtTest", "PySide6.QtNetwork", "PySide6.QtConcurrent", "PySide6.QtDBus",
    "PySide6.QtDesigner", "PySide6.QtHelp", "PySide6.QtUiTools", "PySide6.QtXml",
    "PySide6.QtPrintSupport",
]


# Collected by PySide6's hook but not wanted in the app:
# - the GTK3 platform theme: the window draws itself (Fusion style, its own
#   palette), and the plugin drags GTK, GDK, cairo, pango and atk from the
#   build machine into the app: ~25 MB, and the most fragile libraries to
#   ship to another distribution (they load that system's themes and modules).
# - Qt's translations: the console's text is English only.
# - zstandard's cffi backend: CPython uses the C backend (mcap's compression).
DROP_BINARIES = ("PySide6/Qt/plugins/platformthemes/libqgtk3.so",)
DROP_PREFIXES = ("PySide6/Qt/translations/", "zstandard/_cffi.")


def console_dir() -> Path:
    spec = importlib.util.find_spec("console")
    if spec is None or spec.origin is None:
        raise SystemExit("build: the console package is not installed in this venv "
                         "(installers/linux/build.sh installs it first)")
    return Path(spec.origin).resolve().parent


def datas() -> list[tuple[str, str]]:
    """(source, destination folder) pairs: resources, agent sources, metadata."""
    cdir = console_dir()
    res = cdir / "resources"
    if not (res / "packages" / "digits-cnn" / "manifest.json").is_file():
        raise SystemExit(f"build: {res} has no demo package; install the console from its "
                         "wheel (pip install .), not in editable mode")
    out: list[tuple[str, str]] = [(str(res), "console/resources")]
    # The agent bundle reads these at run time; keep the paths relative to console/.
    from console.devices.agent_bundle import AGENT_MODULES, CORE_MODULES, RUNTIME_MODULES

    out += [(str(cdir / "agent" / m), "console/agent") for m in AGENT_MODULES]
    out += [(str(cdir / "agent" / "runtimes" / m), "console/agent/runtimes")
            for m in RUNTIME_MODULES]
    out += [(str(cdir / "core" / m), "console/core") for m in CORE_MODULES]
    out += copy_metadata(DIST_NAME)
    return out


def hiddenimports() -> list[str]:
    # Every console module: the CLI and window load some lazily, by name.
    return collect_submodules("console")


def runtime_hooks() -> list[str]:
    return [str(HERE / "rthook_devicelab.py")]


def entry_script() -> str:
    return str(HERE / "entry.py")


def excludes() -> list[str]:
    return EXCLUDES + QT_EXCLUDES


def _dest(entry: tuple) -> str:
    return str(entry[0]).replace("\\", "/")


def prune(binaries: list, datas: list) -> tuple[list, list]:
    """Drop what ``DROP_BINARIES``/``DROP_PREFIXES`` name, and the shared
    libraries that only the dropped binaries needed.

    A top-level library is removed only if a dropped binary links it and no
    other kept binary does (both by PyInstaller's own dependency scan, ``ldd``
    on Linux, which lists the whole closure), so nothing the rest of the app
    loads can go missing.
    """
    from PyInstaller.depend.bindepend import get_imports

    def dropped(e: tuple) -> bool:
        d = _dest(e)
        return d in DROP_BINARIES or d.startswith(DROP_PREFIXES)

    gone = [e for e in binaries if dropped(e)]
    kept = [e for e in binaries if not dropped(e)]
    datas = [e for e in datas if not dropped(e)]
    if not gone:
        return kept, datas

    def links(entry: tuple) -> set[str]:
        try:
            return {Path(name).name for name, _ in get_imports(entry[1])}
        except Exception:  # not a binary we can scan: keep whatever it may need
            return set()

    # ldd lists the whole closure, so scanning every binary that is not itself
    # a candidate is enough (candidates linking each other must not keep
    # each other alive).
    only_gone = set().union(*(links(e) for e in gone))

    def candidate(e: tuple) -> bool:
        return "/" not in _dest(e) and _dest(e) in only_gone

    still = set().union(*(links(e) for e in kept if not candidate(e)))
    removable = only_gone - still
    kept = [e for e in kept if not ("/" not in _dest(e) and _dest(e) in removable)]
    return kept, datas
