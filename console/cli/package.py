"""``devicelab package``: build, verify and sign model packages.

Signing keys are Ed25519 (:mod:`console.core.signing`); which signatures are
trusted is decided by :mod:`console.session.trust`. Passphrases are read from
the terminal or from an environment variable the user names, never from the
command line (it shows in ``ps`` and shell history).
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
from pathlib import Path
from typing import Any

from console.cli import CliError, add_group
from console.core.errors import UserError
from console.core.manifest import RUNTIMES

VERIFY_EXAMPLE = """example:
  devicelab package verify resources/packages/digits-cnn
  devicelab package verify model.zip --json

The signature line says "signed by NAME (SHA256:…)" or "unsigned"; a bad
signature, a signature by an untrusted key (see `devicelab keys`) or, under the
'refuse' policy, an unsigned package is refused.

exit status: 0 the package is safe to run, 2 it is refused (one line per problem)."""

KEYGEN_EXAMPLE = """example:
  devicelab package keygen ~/.config/devicelab/release-key --name lab-release
  devicelab package keygen release-key --passphrase --trust

Writes KEYFILE (the private key, mode 0600, OpenSSH format) and KEYFILE.pub
(give that to every console that should trust your packages:
`devicelab keys add KEYFILE.pub`). Keys made with `ssh-keygen -t ed25519` work too."""

SIGN_EXAMPLE = """example:
  devicelab package sign my-model/ --key ~/.config/devicelab/release-key
  DL_PASS=… devicelab package sign my-model.zip --key release-key --passphrase-env DL_PASS

The package is verified first (every file's sha256, the model against its
manifest); a package that does not verify is never signed. Writes manifest.sig
into the directory or the zip, replacing an older signature."""

BUILD_EXAMPLE = """example:
  devicelab package build model.onnx --task classification --labels labels.txt \\
      --name my-model --version 1.2.0 --scale 0.00392157 -o my-model.zip
  devicelab package build model.tflite --task raw -o my-model-litert --runtime-setting threads=2
  devicelab package build model.xml --task classification -o my-model-ov \\
      --runtime-setting device=AUTO --runtime-setting performance_hint=LATENCY

The input tensor's name, layout, size and dtype are read from the model itself;
pass --height/--width when the model leaves them dynamic."""


def register(sub: Any) -> None:
    ps = add_group(sub, "package", "build and verify model packages",
                   "Model packages: an ONNX model plus manifest.json (input spec, decoding, "
                   "labels, the sha256 of every file).",
                   "examples:\n"
                   "  devicelab package build model.onnx --task classification "
                   "--labels labels.txt -o my-model\n"
                   "  devicelab package verify my-model.zip")

    v = ps.add_parser("verify", help="check a package before running it",
                      description="Check the manifest schema, every file's size and sha256, that "
                                  "onnxruntime loads the model, that the manifest's input spec "
                                  "matches the model's real input and that the label count "
                                  "matches its output.",
                      epilog=VERIFY_EXAMPLE)
    v.add_argument("package", help="package directory or .zip")
    v.add_argument("--json", action="store_true", help="print the result as JSON")
    v.set_defaults(func=cmd_verify)

    b = ps.add_parser("build", help="write a package from an .onnx, .tflite or OpenVINO model",
                      description="Write a complete package (directory, or .zip when -o ends "
                                  "in .zip) from a model — .onnx (onnxruntime), .tflite "
                                  "(LiteRT) or OpenVINO IR .xml with its .bin — reading its "
                                  "real input/output signature with that runtime.",
                      epilog=BUILD_EXAMPLE)
    b.add_argument("model", help="the .onnx, .tflite or OpenVINO .xml file (its .bin beside it)")
    b.add_argument("--runtime", choices=RUNTIMES,
                   help="what runs it on the device (default: by the file: .onnx onnxruntime, "
                        ".tflite litert, .xml openvino; an .onnx can also run on openvino)")
    b.add_argument("--runtime-setting", action="append", default=[], metavar="KEY=VALUE",
                   help="a runtime setting written into the manifest (e.g. threads=2, "
                        "device=CPU, performance_hint=LATENCY); one the runtime lacks is "
                        "refused")
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

    k = ps.add_parser("keygen", help="make an Ed25519 key pair for signing packages",
                      description="Make an Ed25519 signing key: KEYFILE (private, 0600) and "
                                  "KEYFILE.pub (public, one 'ssh-ed25519 AAAA… NAME' line).",
                      epilog=KEYGEN_EXAMPLE)
    k.add_argument("keyfile", help="where to write the private key")
    k.add_argument("--name", help="the key's name, shown as the signer (default: the file name)")
    k.add_argument("--passphrase", action="store_true",
                   help="encrypt the private key with a passphrase asked in the terminal")
    k.add_argument("--passphrase-env", metavar="VAR",
                   help="encrypt it with the passphrase held in environment variable VAR")
    k.add_argument("--trust", action="store_true",
                   help="also trust the new public key on this console")
    k.add_argument("--force", action="store_true", help="overwrite existing key files")
    k.set_defaults(func=cmd_keygen)

    s = ps.add_parser("sign", help="sign a package's manifest with your key",
                      description="Sign the package's manifest.json (which pins every file's "
                                  "sha256) with an Ed25519 key; writes manifest.sig.",
                      epilog=SIGN_EXAMPLE)
    s.add_argument("package", help="package directory or .zip (changed in place)")
    s.add_argument("--key", required=True, help="private key file (from `package keygen` or "
                                                "`ssh-keygen -t ed25519`)")
    s.add_argument("--name", help="signer name written into the signature (default: the "
                                  "comment in KEY.pub, else the key file's name)")
    s.add_argument("--passphrase-env", metavar="VAR",
                   help="read the key's passphrase from environment variable VAR (otherwise "
                        "it is asked in the terminal when needed)")
    s.set_defaults(func=cmd_sign)


def cmd_verify(args: argparse.Namespace) -> int:
    from console.core.package import verify_package
    from console.session.trust import check_signature  # never optional: fail closed

    ver = verify_package(args.package)
    check_signature(ver)
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
            print(f"devicelab: error: package refused: {p}", file=sys.stderr)
        return 2
    assert pkg is not None
    m = pkg.manifest
    i = m.input
    print(f"ok  {m.name}@{m.version}  ({m.task})  sha256 {pkg.digest}")
    settings = ", ".join(f"{k}={v}" for k, v in sorted(m.runtime_settings.items()))
    print(f"    model {m.model} on {m.runtime}" + (f" ({settings})" if settings else "")
          + f", {len(m.files)} files, {pkg.size_bytes / 1e6:.2f} MB")
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
    from console.core.package import build_package, verify_package

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
    settings: dict[str, Any] = {}
    for item in args.runtime_setting:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise CliError(f"--runtime-setting {item}: expected KEY=VALUE")
        settings[key.strip()] = int(value) if value.strip().isdigit() else value.strip()
    try:
        path = build_package(args.model, out, task=args.task, labels=args.labels, name=args.name,
                             version=args.version, description=args.description,
                             input_overrides=inp, output_overrides=outp, runtime=args.runtime,
                             runtime_settings=settings)
    except UserError as exc:  # PackageError, a setting refused, the runtime missing here
        raise CliError(f"cannot build package: {exc}") from None
    ver = verify_package(path)
    if not ver.ok:
        raise CliError(f"built package does not verify: {ver.first_line()}")
    assert ver.package is not None
    print(f"wrote {path}  ({ver.package.title}, sha256 {ver.package.digest})")
    return 0


def _env_passphrase(var: str) -> bytes:
    value = os.environ.get(var)
    if not value:
        raise CliError(f"environment variable {var} (--passphrase-env) is not set or empty")
    return value.encode("utf-8")


def _ask_new_passphrase() -> bytes:
    if not sys.stdin.isatty():
        raise CliError("--passphrase asks in a terminal; in scripts use --passphrase-env VAR")
    first = getpass.getpass("passphrase for the new key: ")
    if not first:
        raise CliError("empty passphrase; leave out --passphrase for an unencrypted key")
    if getpass.getpass("same passphrase again: ") != first:
        raise CliError("the two passphrases differ; nothing was written")
    return first.encode("utf-8")


def cmd_keygen(args: argparse.Namespace) -> int:
    from console.core.signing import clean_name, generate_key

    if args.passphrase and args.passphrase_env:
        raise CliError("give --passphrase or --passphrase-env, not both")
    passphrase = None
    if args.passphrase_env:
        passphrase = _env_passphrase(args.passphrase_env)
    elif args.passphrase:
        passphrase = _ask_new_passphrase()
    path = Path(args.keyfile).expanduser()
    name = clean_name(args.name or path.name)
    if not name:
        raise CliError("the key needs a name (--name)")
    key = generate_key(path, name, passphrase, force=args.force)
    print(f"wrote {path} (private, keep it secret{', encrypted' if passphrase else ''}) and "
          f"{path}.pub")
    print(f"key {name}  {key.fingerprint}")
    if args.trust:
        from console.session.trust import TrustError, add_trusted_key

        try:
            add_trusted_key(key)
        except TrustError as exc:
            raise CliError(f"key written, but not trusted: {exc}") from None
        print("trusted on this console")
    else:
        print(f"to trust it: devicelab keys add {path}.pub")
    return 0


def cmd_sign(args: argparse.Namespace) -> int:
    from console.core.package import verify_package
    from console.core.signing import (
        SigningError,
        load_private_key,
        load_public_key,
        private_key_is_encrypted,
        sign_package,
    )

    key_path = Path(args.key).expanduser()
    passphrase = None
    if args.passphrase_env:
        passphrase = _env_passphrase(args.passphrase_env)
    elif private_key_is_encrypted(key_path):
        if not sys.stdin.isatty():
            raise CliError(f"{key_path} is encrypted; pass --passphrase-env VAR or run "
                           "in a terminal to be asked")
        passphrase = getpass.getpass(f"passphrase for {key_path}: ").encode("utf-8")
    key = load_private_key(key_path, passphrase)
    name = args.name
    pub = key_path.with_name(key_path.name + ".pub")
    if not name and pub.is_file():
        try:
            name = load_public_key(pub)[1]
        except SigningError:
            name = None
    name = name or key_path.name
    ver = verify_package(args.package)
    if not ver.ok:
        raise CliError(f"will not sign a package that does not verify: {ver.first_line()}")
    done = sign_package(args.package, key, name)
    where = done.path if done.path.suffix == ".zip" else done.path / "manifest.sig"
    print(f"signed {done.name}@{done.version} (sha256 {done.digest}) as {done.key_name} "
          f"{done.fingerprint} -> {where}")
    try:
        from console.core.settings import load_settings
        from console.session.trust import trusted_keys

        keys, _ = trusted_keys(load_settings())
        if all(k.fingerprint != done.fingerprint for k in keys):
            print(f"note: this console does not trust that key; consoles that should run the "
                  f"package need `devicelab keys add {pub}`")
    except Exception:  # only a hint; signing itself succeeded
        pass
    return 0
