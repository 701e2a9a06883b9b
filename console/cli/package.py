"""``devicelab package``: build and verify model packages."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from console.cli import CliError

VERIFY_EXAMPLE = """example:
  devicelab package verify resources/packages/digits-cnn
  devicelab package verify model.zip --json

exit status: 0 the package is safe to run, 2 it is refused (one line per problem)."""

BUILD_EXAMPLE = """example:
  devicelab package build model.onnx --task classification --labels labels.txt \\
      --name my-model --version 1.2.0 --scale 0.00392157 -o my-model.zip

The input tensor's name, layout, size and dtype are read from the model itself;
pass --height/--width when the model leaves them dynamic."""


def register(sub: Any) -> None:
    p = sub.add_parser("package", help="build and verify model packages",
                       description="Model packages: an ONNX model plus manifest.json (input "
                                   "spec, decoding, labels, the sha256 of every file).")
    p.set_defaults(_group_parser=p)
    ps = p.add_subparsers(dest="package_command", metavar="SUBCOMMAND")

    v = ps.add_parser("verify", help="check a package before running it",
                      description="Check the manifest schema, every file's size and sha256, that "
                                  "onnxruntime loads the model, that the manifest's input spec "
                                  "matches the model's real input and that the label count "
                                  "matches its output.",
                      epilog=VERIFY_EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    v.add_argument("package", help="package directory or .zip")
    v.add_argument("--json", action="store_true", help="print the result as JSON")
    v.set_defaults(func=cmd_verify)

    b = ps.add_parser("build", help="write a package from an .onnx model",
                      description="Write a complete package (directory, or .zip when -o ends "
                                  "in .zip) from a model, reading its real input/output "
                                  "signature with onnxruntime.",
                      epilog=BUILD_EXAMPLE, formatter_class=argparse.RawDescriptionHelpFormatter)
    b.add_argument("model", help="the .onnx file")
    b.add_argument("-o", "--output", required=True, help="output directory or .zip")
    b.add_argument("--task", required=True, choices=("classification", "detection", "raw"))
    b.add_argument("--labels", help="labels file, one label per line")
    b.add_argument("--name", help="package name (default: the model file's stem)")
    b.add_argument("--version", default="0.1.0", help="package version (default 0.1.0)")
    b.add_argument("--description", default="")
    b.add_argument("--layout", choices=("NCHW", "NHWC"), help="override the guessed layout")
    b.add_argument("--color", choices=("RGB", "BGR", "GRAY"), help="colour order the model expects")
    b.add_argument("--height", type=int)
    b.add_argument("--width", type=int)
    b.add_argument("--scale", type=float, help="pixel multiplier (default 1/255 for float models)")
    b.add_argument("--mean", type=float, nargs="+", help="per-channel mean after scaling")
    b.add_argument("--std", type=float, nargs="+", help="per-channel std after scaling")
    b.add_argument("--resize", choices=("area", "linear", "nearest"))
    b.add_argument("--top-k", type=int, help="classification: classes reported per frame")
    b.add_argument("--softmax", action="store_true", help="classification: outputs are logits")
    b.add_argument("--det-layout", choices=("rows", "yolo"), help="detection output layout")
    b.add_argument("--box-format", choices=("xyxy", "xywh", "cxcywh"))
    b.add_argument("--score-threshold", type=float)
    b.add_argument("--nms-iou", type=float)
    b.add_argument("--force", action="store_true", help="overwrite an existing output")
    b.set_defaults(func=cmd_build)


def cmd_verify(args: argparse.Namespace) -> int:
    from console.core.package import verify_package

    ver = verify_package(args.package)
    try:
        from console.session.trust import check_signature  # signed packages

        check_signature(ver)
    except ImportError:
        pass
    pkg = ver.package
    if args.json:
        print(json.dumps({
            "ok": ver.ok, "package": str(ver.source),
            "problems": [str(p) for p in ver.problems], "warnings": ver.warnings,
            "name": pkg.manifest.name if pkg else None,
            "version": pkg.manifest.version if pkg else None,
            "digest": pkg.digest if pkg else None,
            "signature": ver.signature, "signer": ver.signer,
            "model_inputs": ver.model_inputs, "model_outputs": ver.model_outputs,
        }, indent=2))
        return 0 if ver.ok else 2
    if not ver.ok:
        for p in ver.problems:
            print(f"devicelab: package refused: {p}", file=__import__("sys").stderr)
        return 2
    assert pkg is not None
    m = pkg.manifest
    i = m.input
    print(f"ok  {m.name}@{m.version}  ({m.task})  sha256 {pkg.digest}")
    print(f"    model {m.model}, {len(m.files)} files, {pkg.size_bytes / 1e6:.2f} MB")
    print(f"    input {i.name}: {i.layout} {i.color} {i.height}x{i.width} {i.dtype}, scale "
          f"{i.scale:g}, mean {list(i.mean)}, std {list(i.std)}, resize {i.resize}")
    if pkg.labels is not None:
        print(f"    labels {len(pkg.labels)}")
    sig = {"unsigned": "unsigned", "signed": f"signed by {ver.signer}"}.get(ver.signature,
                                                                             ver.signature)
    print(f"    signature: {sig}")
    for w in ver.warnings:
        print(f"    warning: {w}")
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    from console.core.package import PackageError, build_package, verify_package

    out = Path(args.output)
    if out.exists() and not args.force and (out.is_file() or any(out.iterdir())):
        raise CliError(f"{out} already exists; pass --force to overwrite")
    if not Path(args.model).is_file():
        raise CliError(f"model file not found: {args.model}")
    if args.labels and not Path(args.labels).is_file():
        raise CliError(f"labels file not found: {args.labels}")
    inp = {k: getattr(args, k) for k in ("layout", "color", "height", "width", "scale", "mean",
                                         "std", "resize") if getattr(args, k) is not None}
    outp: dict[str, Any] = {}
    if args.top_k is not None:
        outp["top_k"] = args.top_k
    if args.softmax:
        outp["softmax"] = True
    if args.det_layout:
        outp["layout"] = args.det_layout
    for k in ("box_format", "score_threshold", "nms_iou"):
        if getattr(args, k) is not None:
            outp[k] = getattr(args, k)
    try:
        path = build_package(args.model, out, task=args.task, labels=args.labels, name=args.name,
                             version=args.version, description=args.description,
                             input_overrides=inp, output_overrides=outp)
    except PackageError as exc:
        raise CliError(f"cannot build package: {exc}") from None
    ver = verify_package(path)
    if not ver.ok:
        raise CliError(f"built package does not verify: {ver.first_line()}")
    assert ver.package is not None
    print(f"wrote {path}  ({ver.package.title}, sha256 {ver.package.digest})")
    return 0
