"""The wheel a lab engineer gets from ``pip install .`` works on its own.

Builds the wheel from a copy of the source tree (console/, resources/,
pyproject.toml, README.md: nothing else is needed), installs it into a fresh
venv that does not see this one, and runs ``devicelab --version`` and the
headless demo run from there on the demo package and recording *installed
with the wheel* (``console/resources``). An editable install of the same
copy must keep running the source tree.

No multi-GB download: the wheel's runtime dependencies are repacked into a
wheelhouse from the distributions already installed in this venv (their
RECORD lists every file), and the fresh venv is filled with
``pip install --no-index`` from it. So the installed set is exactly the
wheel's declared dependency closure, at the versions the rest of the suite
tests — an import of an undeclared package fails here. Only the build
backend (setuptools, wheel: ~2 MB) comes from the package index, the same
way ``pip install .`` gets it.

The fast test at the top guards the explicit package list in pyproject.
"""

from __future__ import annotations

import base64
import csv
import hashlib
import importlib.metadata as md
import io
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.tags import parse_tag, sys_tags
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
SOURCES = ("console", "resources", "pyproject.toml", "README.md")
PIP_TIMEOUT = 900
RUN_TIMEOUT = 300


def _pyproject() -> dict:
    tomllib = pytest.importorskip("tomllib", reason="reading pyproject needs Python 3.11+")
    with open(ROOT / "pyproject.toml", "rb") as fh:
        return tomllib.load(fh)


def _project_version() -> str:
    return str(_pyproject()["project"]["version"])


# ---------------------------------------------------------------- fast guard


def test_every_console_package_and_resource_folder_is_listed_in_pyproject() -> None:
    st = _pyproject()["tool"]["setuptools"]
    listed = set(st["packages"])
    found = {".".join(p.parent.relative_to(ROOT).parts)
             for p in (ROOT / "console").rglob("__init__.py") if "__pycache__" not in p.parts}
    resource_dirs = {f"console.resources.{d.name}" for d in (ROOT / "resources").iterdir()
                     if d.is_dir() and not d.name.startswith((".", "__"))}
    missing = (found | {"console.resources"} | resource_dirs) - listed
    assert not missing, f"add to [tool.setuptools] packages in pyproject.toml: {sorted(missing)}"
    assert st["package-dir"]["console.resources"] == "resources"
    data = st["package-data"]
    no_data = sorted(r for r in resource_dirs if "**/*" not in data.get(r, []))
    assert not no_data, f"add '**/*' package-data for {no_data} in pyproject.toml"


# ---------------------------------------------------------- wheelhouse repack


@dataclass(frozen=True)
class Closure:
    """The runtime dependency closure of a wheel, as installed in this venv."""

    dists: tuple[md.Distribution, ...]
    unmet: tuple[str, ...]  # requirements this venv cannot satisfy (repack impossible)


def dependency_closure(requires: list[str]) -> Closure:
    seen: dict[str, md.Distribution] = {}
    unmet: list[str] = []
    todo = list(requires)
    while todo:
        req = Requirement(todo.pop())
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        key = canonicalize_name(req.name)
        if key in seen:
            continue
        try:
            dist = md.distribution(req.name)
        except md.PackageNotFoundError:
            unmet.append(str(req))
            continue
        if req.specifier and not req.specifier.contains(dist.version, prereleases=True):
            unmet.append(f"{req} (this venv has {dist.version})")
            continue
        seen[key] = dist
        todo += dist.requires or []
    return Closure(tuple(seen.values()), tuple(unmet))


def _record_hash(data: bytes) -> str:
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=")
    return "sha256=" + digest.decode()


def repack(dist: md.Distribution, out_dir: Path) -> Path:
    """Write an installed distribution back out as a wheel pip can install.

    Takes the files its RECORD lists under site-packages (bytecode, the
    console scripts outside site-packages and the installer's own marker
    files are left out: pip regenerates them) and writes a fresh RECORD.
    """
    files = [f for f in (dist.files or []) if ".." not in f.parts
             and "__pycache__" not in f.parts and not f.name.endswith(".pyc")]
    info_dirs = {f.parts[0] for f in files if f.parts[0].endswith(".dist-info")}
    assert len(info_dirs) == 1, f"{dist.metadata['Name']}: no single .dist-info in its RECORD"
    info = info_dirs.pop()
    wheel_meta = dist.read_text("WHEEL") or ""
    tags = [t.split(":", 1)[1].strip() for t in wheel_meta.splitlines()
            if t.startswith("Tag:")]
    supported = set(sys_tags())
    tag = next((t for t in tags if set(parse_tag(t)) & supported), tags[0] if tags else
               "py3-none-any")
    name = re.sub(r"[-_.]+", "_", dist.metadata["Name"])
    target = out_dir / f"{name}-{dist.version}-{tag}.whl"
    skip = {f"{info}/{n}" for n in ("RECORD", "INSTALLER", "REQUESTED", "direct_url.json")}
    records: list[tuple[str, str, str]] = []
    with zipfile.ZipFile(target, "w", zipfile.ZIP_STORED) as zf:
        for f in files:
            arc = f.as_posix()
            if arc in skip:
                continue
            src = Path(str(dist.locate_file(f)))
            if not src.is_file():
                continue
            data = src.read_bytes()
            zi = zipfile.ZipInfo(arc, (2020, 1, 1, 0, 0, 0))
            zi.external_attr = (src.stat().st_mode & 0o7777 | 0o100000) << 16
            zf.writestr(zi, data)
            records.append((arc, _record_hash(data), str(len(data))))
        out = io.StringIO()
        w = csv.writer(out, lineterminator="\n")
        w.writerows(records)
        w.writerow((f"{info}/RECORD", "", ""))
        zf.writestr(f"{info}/RECORD", out.getvalue())
    return target


# -------------------------------------------------------------- the fixtures


def _pip(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    res = subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", *args],
                         cwd=cwd, env=env, capture_output=True, text=True,
                         timeout=PIP_TIMEOUT)
    assert res.returncode == 0, f"pip {' '.join(args[:2])} failed:\n{res.stdout[-3000:]}\n" \
                                f"{res.stderr[-3000:]}"
    return res


def _fresh_venv(path: Path) -> Path:
    """A venv with nothing in it (no pip: this venv's pip fills it via --python)."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True,
                   timeout=120)
    return path / "bin" / "python"


def _copy_sources(dest: Path) -> Path:
    dest.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info")
    for name in SOURCES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=ignore)
        else:
            shutil.copy2(src, dest / name)
    return dest


@dataclass(frozen=True)
class Built:
    src: Path  # the copied source tree
    wheel: Path
    wheelhouse: Path
    requires: tuple[str, ...]  # the wheel's Requires-Dist (runtime, no extras)
    online: bool  # True when this venv could not supply every dependency


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Built]:
    base = tmp_path_factory.mktemp("wheel")
    src = _copy_sources(base / "src")
    dist = base / "dist"
    # The same build `pip install .` does: isolated, setuptools from the index.
    _pip("wheel", "--no-deps", "-q", "-w", str(dist), str(src))
    (wheel,) = dist.glob("device_lab_console-*.whl")
    with zipfile.ZipFile(wheel) as zf:
        meta_name = next(n for n in zf.namelist() if n.endswith(".dist-info/METADATA"))
        meta = zf.read(meta_name).decode()
    requires = [line.split(":", 1)[1].strip() for line in meta.splitlines()
                if line.startswith("Requires-Dist:")]
    runtime = [r for r in requires if "extra ==" not in r]
    closure = dependency_closure(runtime)
    house = base / "wheelhouse"
    house.mkdir()
    if not closure.unmet:
        for d in closure.dists:
            repack(d, house)
    yield Built(src, wheel, house, tuple(runtime), bool(closure.unmet))
    shutil.rmtree(base, ignore_errors=True)  # ~0.5 GB of repacked wheels


def _install_args(b: Built) -> list[str]:
    if b.online:  # fall back to the index (CI without some package in its venv)
        return ["--find-links", str(b.wheelhouse)]
    return ["--no-index", "--find-links", str(b.wheelhouse)]


@pytest.fixture(scope="module")
def wheel_venv(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    venv = tmp_path_factory.mktemp("venv-wheel") / "venv"
    py = _fresh_venv(venv)
    _pip("--python", str(py), "install", "-q", "--no-compile", *_install_args(built),
         str(built.wheel))
    yield venv
    shutil.rmtree(venv, ignore_errors=True)


@pytest.fixture(scope="module")
def editable_venv(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    venv = tmp_path_factory.mktemp("venv-editable") / "venv"
    py = _fresh_venv(venv)
    _pip("--python", str(py), "install", "-q", "--no-deps", "-e", str(built.src))
    _pip("--python", str(py), "install", "-q", "--no-compile", *_install_args(built),
         *built.requires)
    yield venv
    shutil.rmtree(venv, ignore_errors=True)


def _env(home: Path) -> dict[str, str]:
    env = dict(os.environ)
    for k in ("PYTHONPATH", "DEVICELAB_RESOURCES", "DEVICELAB_DB", "VIRTUAL_ENV"):
        env.pop(k, None)
    env["DEVICELAB_HOME"] = str(home)
    return env


def _run(argv: list[str], home: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, env=_env(home), cwd=cwd, capture_output=True, text=True,
                          timeout=RUN_TIMEOUT)


def _where(venv: Path, home: Path, cwd: Path) -> dict[str, str]:
    code = ("import json, console, console.core.paths as p; print(json.dumps({"
            "'console': console.__file__, 'resources': str(p.resources_dir()), "
            "'version': console.__version__}))")
    res = _run([str(venv / "bin" / "python"), "-c", code], home, cwd)
    assert res.returncode == 0, res.stderr
    return json.loads(res.stdout)


@pytest.fixture
def outside(tmp_path: Path) -> Iterator[Path]:
    """A working directory with no console/ or resources/ next to it."""
    d = tmp_path / "cwd"
    d.mkdir()
    yield d


# ------------------------------------------------------------------ the tests


@pytest.mark.slow
def test_wheel_holds_every_resource_file_and_module(built: Built) -> None:
    with zipfile.ZipFile(built.wheel) as zf:
        names = set(zf.namelist())
    want = {"console/resources/" + p.relative_to(ROOT / "resources").as_posix()
            for p in (ROOT / "resources").rglob("*") if p.is_file()
            and "__pycache__" not in p.parts}
    want |= {p.relative_to(ROOT).as_posix() for p in (ROOT / "console").rglob("*.py")
             if "__pycache__" not in p.parts}
    assert "console/resources/icons/devicelab.svg" in want
    assert "console/resources/recordings/digits-demo.avi" in want
    missing = sorted(want - names)
    assert not missing, f"the wheel lacks {len(missing)} files, e.g. {missing[:5]}"


@pytest.mark.slow
def test_version_from_the_fresh_venv_is_pyprojects(wheel_venv: Path, devicelab_home: Path,
                                                   outside: Path) -> None:
    res = _run([str(wheel_venv / "bin" / "devicelab"), "--version"], devicelab_home, outside)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == f"devicelab {_project_version()}"


@pytest.mark.slow
def test_installed_console_uses_its_own_files_not_the_source_tree(
        wheel_venv: Path, devicelab_home: Path, outside: Path) -> None:
    where = _where(wheel_venv, devicelab_home, outside)
    site = (wheel_venv / "lib").resolve()
    assert Path(where["console"]).resolve().is_relative_to(site)
    res_dir = Path(where["resources"]).resolve()
    assert res_dir.is_relative_to(site) and res_dir.name == "resources"
    assert (res_dir / "packages" / "digits-cnn" / "manifest.json").is_file()
    assert where["version"] == _project_version()


@pytest.mark.slow
def test_headless_demo_run_from_the_fresh_venv(wheel_venv: Path, devicelab_home: Path,
                                               outside: Path, tmp_path: Path) -> None:
    res_dir = Path(_where(wheel_venv, devicelab_home, outside)["resources"])
    db = tmp_path / "sessions.db"
    exe = str(wheel_venv / "bin" / "devicelab")
    run = _run([exe, "run", "--device", "local",
                "--package", str(res_dir / "packages" / "digits-cnn"),
                "--input", str(res_dir / "recordings" / "digits-demo.avi"),
                "--truth", str(res_dir / "recordings" / "digits-demo.truth.csv"),
                "--frames", "50", "--json", "--quiet", "--db", str(db)],
               devicelab_home, outside)
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert out["status"] == "completed", out
    assert out["summary"]["frames"] == 50
    assert out["summary"]["accuracy"]["frames_scored"] == 50
    show = _run([exe, "sessions", "show", str(out["session_id"]), "--json", "--db", str(db)],
                devicelab_home, outside)
    assert show.returncode == 0, show.stderr
    rec = json.loads(show.stdout)
    version = _project_version()
    assert (rec["console_version"], rec["agent_version"]) == (version, version)
    assert Path(rec["package_source"]).resolve().is_relative_to(wheel_venv.resolve())


@pytest.mark.slow
def test_editable_install_runs_the_source_tree(built: Built, editable_venv: Path,
                                               devicelab_home: Path, outside: Path) -> None:
    where = _where(editable_venv, devicelab_home, outside)
    assert Path(where["console"]).resolve() == (built.src / "console" / "__init__.py").resolve()
    assert Path(where["resources"]).resolve() == (built.src / "resources").resolve()
    assert where["version"] == _project_version()
    res = _run([str(editable_venv / "bin" / "devicelab"), "--version"], devicelab_home,
               outside)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == f"devicelab {_project_version()}"
