"""The layers point one way, the core runs without Qt, and the agent stands alone."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def test_import_contracts_hold() -> None:
    res = subprocess.run([str(BIN / "lint-imports")], cwd=ROOT, capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


_NO_QT = r"""
import sys, importlib.abc
class _Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('PySide6', 'shiboken6', 'pyqtgraph'):
            raise ImportError('Qt is not installed (blocked by the test)')
        return None
sys.meta_path.insert(0, _Block())
import pkgutil, importlib, console
for mod in pkgutil.walk_packages(console.__path__, 'console.'):
    if mod.name.startswith(('console.ui', 'console.launcher')) or mod.name.endswith('__main__'):
        continue
    importlib.import_module(mod.name)
from console.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_headless_core_runs_without_qt(demo_package: Path, tmp_path: Path) -> None:
    res = subprocess.run(
        [sys.executable, "-c", _NO_QT, "run", "--device", "local", "--package",
         str(demo_package), "--input", "synthetic:64x64", "--frames", "20", "--json",
         "--db", str(tmp_path / "s.db")], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    out = json.loads(res.stdout)
    assert out["status"] == "completed" and out["summary"]["frames"] == 20
    assert "PySide6" not in res.stderr


def test_agent_bundle_holds_only_the_agent_and_shared_modules(tmp_path: Path) -> None:
    from console.devices.agent_bundle import build_bundle_bytes, bundle

    data = build_bundle_bytes()
    assert data == build_bundle_bytes(), "bundle must be reproducible (cache key)"
    p = tmp_path / "agent.pyz"
    p.write_bytes(data)
    names = set(zipfile.ZipFile(p).namelist())
    assert {n for n in names if not n.startswith("console/agent/")} == {
        "__main__.py", "console/__init__.py", "console/core/__init__.py",
        "console/core/protocol.py", "console/core/manifest.py", "console/core/errors.py",
        "console/core/media.py"}
    # Isolated mode (-I): no PYTHONPATH, no cwd, no user site - the bundle alone.
    res = subprocess.run([sys.executable, "-I", str(p), "facts"], capture_output=True, text=True,
                         cwd=tmp_path, timeout=60)
    assert res.returncode == 0, res.stderr
    facts = json.loads(res.stdout)
    assert facts["libraries"]["onnxruntime"] and facts["cores"] >= 1
    assert len(bundle()[1]) == 64


MAX_FILE_LINES, MAX_CLASS_LINES = 600, 400


def test_rooms_stay_small() -> None:
    """No source file over 600 lines, no class over 400 (docs/architecture.md): a room that
    grows past that holds two things and should be two modules."""
    import ast

    too_big = []
    for path in sorted((ROOT / "console").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        rel = path.relative_to(ROOT)
        if text.count("\n") > MAX_FILE_LINES:
            too_big.append(f"{rel}: {text.count(chr(10))} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ClassDef) and node.end_lineno is not None:
                n = node.end_lineno - node.lineno + 1
                if n > MAX_CLASS_LINES:
                    too_big.append(f"{rel}: class {node.name} {n} lines")
    assert not too_big, "\n".join(too_big)
