"""Opening, verifying and building model packages on the console side.

The manifest format and the file-hash check live in :mod:`console.core.manifest`
(shared with the agent). This module adds what only the console does: reading
``.zip`` packages safely, loading the model in onnxruntime to check that the
manifest tells the truth about it, and writing new packages from a bare
``.onnx`` file. Nothing in a package is ever executed: ONNX files are data,
and labels are read as text.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from console.core.manifest import (
    COLORS,
    DEFAULT_RUNTIME,
    FORMAT,
    MANIFEST_NAME,
    SIGNATURE_NAME,
    InputSpec,
    Manifest,
    PackageError,
    read_labels,
    read_manifest,
    sha256_bytes,
    sha256_file,
    verify_files,
    version_tuple,
)
from console.core.model_io import RuntimeUnavailable, read_signature, runtime_for, weights_for
from console.core.unpack import unpack_zip

__all__ = [
    "Package",
    "PackageError",
    "Verification",
    "build_package",
    "open_package",
    "verify_package",
]

_ORT_DTYPES = {
    "tensor(float)": "float32",
    "tensor(float16)": "float16",
    "tensor(uint8)": "uint8",
    "tensor(int8)": "int8",
}


@dataclass(frozen=True)
class Package:
    """A package opened from disk. ``root`` is a directory (a zip is unpacked first)."""

    source: Path
    root: Path
    manifest: Manifest
    manifest_bytes: bytes
    digest: str  # sha256 of manifest.json bytes: the package's identity
    labels: list[str] | None

    @property
    def model_path(self) -> Path:
        return self.root / self.manifest.model

    @property
    def size_bytes(self) -> int:
        return sum(e.size for e in self.manifest.files.values())

    @property
    def title(self) -> str:
        return f"{self.manifest.name}@{self.manifest.version}"

    def file_paths(self) -> list[tuple[str, Path]]:
        """Every file that belongs on a device: manifest, optional signature, listed files."""
        out = [(MANIFEST_NAME, self.root / MANIFEST_NAME)]
        if (self.root / SIGNATURE_NAME).is_file():
            out.append((SIGNATURE_NAME, self.root / SIGNATURE_NAME))
        out += [(name, self.root / name) for name in sorted(self.manifest.files)]
        return out


@dataclass
class Verification:
    """Everything ``package verify`` found. ``ok`` means safe to run."""

    source: Path
    problems: list[PackageError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    package: Package | None = None
    model_inputs: list[dict[str, Any]] = field(default_factory=list)
    model_outputs: list[dict[str, Any]] = field(default_factory=list)
    #: "unsigned", "signed", "untrusted" or "bad"; filled by console.session.trust.check_signature
    signature: str = "unsigned"
    signer: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def first_line(self) -> str:
        return str(self.problems[0]) if self.problems else "ok"


def _unpack_cache_dir() -> Path:
    from console.core.paths import cache_dir

    return cache_dir() / "packages"


def _resolve_root(path: Path) -> tuple[Path, list[str] | None]:
    """The package folder, and for a zip the entries skipped because it does not list them."""
    if not path.exists():
        raise PackageError(str(path), "no such file or directory")
    if path.is_dir():
        return path, None
    if path.name == MANIFEST_NAME:
        return path.parent, None
    if zipfile.is_zipfile(path):
        return unpack_zip(path, _unpack_cache_dir())
    raise PackageError(str(path), "is neither a package directory nor a .zip package")


def open_package(path: str | os.PathLike[str], *, check_files: bool = True) -> Package:
    """Open a package and check every file hash. Raises the first :class:`PackageError`."""
    src = Path(path).expanduser()
    root, skipped = _resolve_root(src)
    manifest, raw = read_manifest(str(root))
    if check_files and skipped is None:  # a zip's folder is checked as it is unpacked
        problems = verify_files(str(root), manifest)
        if problems:
            raise problems[0]
    labels = None
    if manifest.output.labels and (root / manifest.output.labels).is_file():
        try:
            labels = read_labels(str(root), manifest)
        except (OSError, UnicodeDecodeError) as exc:
            raise PackageError(manifest.output.labels, f"cannot be read as UTF-8 text: {exc}"
                               ) from None
    return Package(source=src, root=root, manifest=manifest, manifest_bytes=raw,
                   digest=sha256_bytes(raw), labels=labels)


def _check_input_against_model(inp: InputSpec, model_inputs: list[dict[str, Any]]
                               ) -> list[PackageError]:
    problems: list[PackageError] = []
    by_name = {m["name"]: m for m in model_inputs}
    if inp.name not in by_name:
        names = ", ".join(repr(m["name"]) for m in model_inputs)
        return [PackageError("manifest.json: input.name",
                             f"model has no input {inp.name!r}; its inputs are {names}")]
    real = by_name[inp.name]
    shape = real["shape"]
    want = inp.shape()
    if len(shape) != 4:
        problems.append(PackageError("manifest.json: input",
                                     f"model input {inp.name!r} has rank {len(shape)} "
                                     f"(shape {shape}); image packages need rank 4"))
        return problems
    for axis, (have, exp) in enumerate(zip(shape, want)):
        if axis == 0:
            continue  # batch may be symbolic or fixed
        if isinstance(have, int) and have != exp:
            problems.append(PackageError(
                "manifest.json: input",
                f"{inp.layout} {inp.color} {inp.height}x{inp.width} means shape "
                f"{list(want)}, but the model's {inp.name!r} is {shape}"))
            break
    dtype = _ORT_DTYPES.get(real["type"])
    if dtype != inp.dtype:
        problems.append(PackageError("manifest.json: input.dtype",
                                     f"manifest says {inp.dtype}, model input is {real['type']}"))
    return problems


def _check_labels(pkg: Package, outputs: list[dict[str, Any]]) -> list[PackageError]:
    if pkg.manifest.task != "classification" or pkg.labels is None or not outputs:
        return []
    shape = outputs[0]["shape"]
    if len(shape) >= 1 and isinstance(shape[-1], int) and shape[-1] != len(pkg.labels):
        return [PackageError(pkg.manifest.output.labels or "labels",
                             f"has {len(pkg.labels)} labels, the model's output "
                             f"{outputs[0]['name']!r} has {shape[-1]} classes")]
    return []


def verify_package(path: str | os.PathLike[str], *, load_model: bool = True) -> Verification:
    """Full check for ``package verify`` and before every run: collects every problem."""
    import onnxruntime as ort

    src = Path(path).expanduser()
    ver = Verification(source=src)
    try:
        root, skipped = _resolve_root(src)
        manifest, raw = read_manifest(str(root))
    except PackageError as exc:
        ver.problems.append(exc)
        return ver
    if skipped is None:  # a zip's folder is checked as it is unpacked (console.core.unpack)
        ver.problems.extend(verify_files(str(root), manifest))
    if ver.problems:
        return ver
    try:
        pkg = open_package(root, check_files=False)
    except PackageError as exc:
        ver.problems.append(exc)
        return ver
    pkg = Package(source=src, root=pkg.root, manifest=pkg.manifest, manifest_bytes=raw,
                  digest=pkg.digest, labels=pkg.labels)
    ver.package = pkg
    if manifest.runtime == "onnxruntime" and \
            version_tuple(ort.__version__) < version_tuple(manifest.min_onnxruntime):
        ver.problems.append(PackageError("manifest.json: min_onnxruntime",
                                         f"needs onnxruntime >= {manifest.min_onnxruntime}, "
                                         f"this console has {ort.__version__}"))
    extra = skipped if skipped is not None else sorted(
        p.relative_to(root).as_posix() for p in root.rglob("*")
        if p.is_file() and p.name not in (MANIFEST_NAME, SIGNATURE_NAME)
        and p.relative_to(root).as_posix() not in manifest.files
    )
    if extra:
        ver.warnings.append(f"files not listed in manifest.json (ignored, never deployed): "
                            f"{', '.join(extra[:5])}")
    if not load_model:
        return ver
    try:  # with the runtime the package names (console.core.model_io)
        ver.model_inputs, ver.model_outputs = read_signature(pkg.model_path, manifest.runtime,
                                                             pkg.root)
    except RuntimeUnavailable as exc:  # the device may well have it: say so, do not refuse
        ver.warnings.append(f"model not checked against its manifest: {exc}")
        return ver
    except PackageError as exc:
        ver.problems.append(PackageError(manifest.model, exc.message))
        return ver
    ver.problems.extend(_check_input_against_model(manifest.input, ver.model_inputs))
    ver.problems.extend(_check_labels(pkg, ver.model_outputs))
    return ver


def _guess_input(model_input: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    shape = model_input["shape"]
    if len(shape) != 4:
        raise PackageError("model", f"input {model_input['name']!r} has shape {shape}; "
                                    "image packages need a rank-4 input")
    layout = overrides.get("layout")
    if layout is None:
        if shape[1] in (1, 3):
            layout = "NCHW"
        elif shape[3] in (1, 3):
            layout = "NHWC"
        else:
            raise PackageError("model", f"cannot tell the layout of input shape {shape}; "
                                        "pass --layout NCHW or NHWC")
    c, h, w = (shape[1], shape[2], shape[3]) if layout == "NCHW" else (shape[3], shape[1],
                                                                        shape[2])
    height = overrides.get("height") or (h if isinstance(h, int) else None)
    width = overrides.get("width") or (w if isinstance(w, int) else None)
    if height is None or width is None:
        raise PackageError("model", f"input shape {shape} has a dynamic height/width; "
                                    "pass --height and --width")
    color = overrides.get("color") or ("GRAY" if c == 1 else "RGB")
    if isinstance(c, int) and COLORS[color] != c:
        raise PackageError("--color", f"{color} has {COLORS[color]} channels, the model "
                                      f"expects {c}")
    dtype = _ORT_DTYPES.get(model_input["type"])
    if dtype is None:
        raise PackageError("model", f"input type {model_input['type']} is not supported "
                                    f"(supported: {', '.join(_ORT_DTYPES)})")
    return {"name": model_input["name"], "layout": layout, "height": int(height),
            "width": int(width), "color": color, "dtype": dtype,
            "scale": overrides.get("scale", 1.0 if dtype in ("uint8", "int8") else 1 / 255),
            "mean": overrides.get("mean", [0.0]), "std": overrides.get("std", [1.0]),
            "resize": overrides.get("resize", "linear")}


def build_package(
    model: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    task: str,
    labels: str | os.PathLike[str] | None = None,
    name: str | None = None,
    version: str = "0.1.0",
    description: str = "",
    input_overrides: dict[str, Any] | None = None,
    output_overrides: dict[str, Any] | None = None,
    budgets: dict[str, float] | None = None,
    extra_files: list[str | os.PathLike[str]] | None = None,
    runtime: str | None = None,
    runtime_settings: dict[str, Any] | None = None,
) -> Path:
    """Write a complete package (directory, or ``.zip`` when ``out`` ends so) from a model.

    The model is ``.onnx`` (onnxruntime, or OpenVINO when ``runtime`` says so),
    ``.tflite`` (LiteRT) or OpenVINO IR ``.xml`` with its ``.bin`` beside it. The
    input spec is read from the model's real signature with that runtime;
    ``input_overrides`` fills what the model leaves dynamic (or sets
    pre-processing such as scale/mean/std). Returns the written path.
    """
    from console.core.manifest import parse_manifest

    model_p = Path(model)
    out_p = Path(out)
    rt = runtime_for(model_p, runtime)
    inputs, outputs = read_signature(model_p, rt)
    if len(inputs) != 1:
        raise PackageError(str(model_p), f"has {len(inputs)} inputs; packages support models "
                                         "with one image input")
    inp = _guess_input(inputs[0], dict(input_overrides or {}))
    model_name = "model" + model_p.suffix.lower()
    files: dict[str, Path] = {model_name: model_p}
    weights = weights_for(model_p, rt)
    if weights is not None:
        files["model.bin"] = weights
    output: dict[str, Any] = {"top_k": 5, "softmax": False}
    if labels is not None:
        files["labels.txt"] = Path(labels)
        output["labels"] = "labels.txt"
    if task == "classification" and outputs and isinstance(outputs[0]["shape"][-1], int):
        output["top_k"] = min(5, outputs[0]["shape"][-1])
    output.update(output_overrides or {})
    for extra in extra_files or []:
        if Path(extra).name in files or Path(extra).name in (MANIFEST_NAME, SIGNATURE_NAME):
            raise PackageError(str(extra), f"an extra file may not be named "
                                           f"{Path(extra).name!r} (taken by the package)")
        files[Path(extra).name] = Path(extra)
    manifest_d: dict[str, Any] = {
        "format": FORMAT,
        "name": name or model_p.stem,
        "version": version,
        "description": description,
        "task": task,
        "model": model_name,
        "files": {k: {"sha256": sha256_file(str(p)), "size": p.stat().st_size}
                  for k, p in files.items()},
        "input": inp,
        "output": output,
        "min_onnxruntime": "1.16",
    }
    if budgets:
        manifest_d["budgets"] = budgets
    if rt != DEFAULT_RUNTIME:
        manifest_d["runtime"] = rt
    if runtime_settings:
        manifest_d["runtime_settings"] = dict(runtime_settings)
    manifest = parse_manifest(manifest_d)  # same validation as every reader
    data = manifest.to_bytes()
    if out_p.suffix == ".zip":
        out_p.parent.mkdir(parents=True, exist_ok=True)
        tmp = out_p.with_name(out_p.name + ".part")
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr(MANIFEST_NAME, data)
            for k, p in files.items():
                zf.write(p, k)
        os.replace(tmp, out_p)
    else:
        # Build beside the target and swap it in: no stale files from an earlier
        # build, and never a manifest that disagrees with the files next to it.
        out_p.parent.mkdir(parents=True, exist_ok=True)
        tmp_dir = Path(tempfile.mkdtemp(prefix=f".{out_p.name}-", dir=out_p.parent))
        try:
            for k, p in files.items():
                shutil.copyfile(p, tmp_dir / k)
            (tmp_dir / MANIFEST_NAME).write_bytes(data)
            old = None
            if out_p.exists():
                old = out_p.with_name(f".{out_p.name}-old-{os.getpid()}")
                os.replace(out_p, old)
            os.replace(tmp_dir, out_p)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        except BaseException:
            shutil.rmtree(tmp_dir, ignore_errors=True)
            raise
    return out_p


def manifest_summary(pkg: Package) -> dict[str, Any]:
    """The facts a session records about its package (no file contents)."""
    m = pkg.manifest
    return {
        "name": m.name, "version": m.version, "task": m.task, "digest": pkg.digest,
        "model_sha256": m.files[m.model].sha256, "size": pkg.size_bytes,
        "input": json.loads(m.to_bytes())["input"], "source": str(pkg.source.resolve()),
    }


def zip_package(pkg: Package) -> bytes:
    """The package as zip bytes (for bundles and exports)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for rel, p in pkg.file_paths():
            zf.write(p, rel)
    return buf.getvalue()
