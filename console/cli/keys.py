"""``devicelab keys``: the public keys whose package signatures this console trusts.

Only public keys are stored (in ``settings.json``); ``keys add`` refuses a
private key file outright. The package policy (run unsigned packages with a
warning, or refuse them) is set here too, because it belongs with the keys.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from console.cli import add_group

EXAMPLE = """example:
  devicelab keys add release.pub --name lab-release
  devicelab keys list
  devicelab keys remove lab-release          (or its SHA256:… fingerprint)
  devicelab keys policy refuse               (refuse unsigned packages)

A package signed by a key that is not listed here, or whose signature does not
verify, is always refused; an unsigned package runs with a warning unless the
policy is 'refuse'."""


def register(sub: Any) -> None:
    ks = add_group(sub, "keys", "trusted package-signing keys and the package policy",
                   "Public keys whose package signatures this console trusts, and whether "
                   "unsigned packages may run.", EXAMPLE)

    a = ks.add_parser("add", help="trust a public key (.pub)",
                      description="Trust the Ed25519 public key in FILE: an OpenSSH "
                                  "'ssh-ed25519 AAAA… name' line (what `devicelab package "
                                  "keygen` and `ssh-keygen -t ed25519` write) or a PEM public "
                                  "key. Never give it a private key.",
                      epilog="example:\n  devicelab keys add release.pub --name lab-release")
    a.add_argument("file", help="public key file")
    a.add_argument("--name", help="the name shown for this key (default: the key's comment, "
                                  "else the file name)")
    a.set_defaults(func=cmd_add)

    ls = ks.add_parser("list", help="list trusted keys and the policy",
                       epilog="example:\n  devicelab keys list\n  devicelab keys list --json")
    ls.add_argument("--json", action="store_true", help="print as JSON")
    ls.set_defaults(func=cmd_list)

    r = ks.add_parser("remove", help="stop trusting a key",
                      epilog="example:\n  devicelab keys remove lab-release\n"
                             "  devicelab keys remove SHA256:abc…")
    r.add_argument("key", metavar="NAME|FINGERPRINT")
    r.set_defaults(func=cmd_remove)

    po = ks.add_parser("policy", help="show or set what happens to unsigned packages",
                       description="warn (default): unsigned packages run, with a warning. "
                                   "refuse: unsigned packages are refused. Bad or untrusted "
                                   "signatures are refused under both.",
                       epilog="example:\n  devicelab keys policy\n  devicelab keys policy refuse")
    po.add_argument("policy", nargs="?", choices=("warn", "refuse"))
    po.set_defaults(func=cmd_policy)


def cmd_add(args: argparse.Namespace) -> int:
    from console.core.signing import TrustedKey, load_public_key
    from console.session.trust import add_trusted_key

    raw, comment = load_public_key(args.file)
    name = args.name or comment or Path(args.file).name.removesuffix(".pub")
    entry, added = add_trusted_key(TrustedKey(name, raw))
    if added:
        print(f"trusted {entry['name']}  {entry['fingerprint']}")
    else:
        print(f"already trusted as {entry['name']}  {entry['fingerprint']}")
    return 0


def cmd_list(args: argparse.Namespace) -> int:
    from console.core.settings import load_settings
    from console.session.trust import TrustError, policy_of, trusted_keys

    s = load_settings()
    keys, damaged = trusted_keys(s)
    try:
        policy = policy_of(s)
    except TrustError as exc:
        policy = f"invalid ({exc})"
    added = {e.get("fingerprint"): e.get("added") for e in s.trusted_keys if isinstance(e, dict)}
    if args.json:
        print(json.dumps({"policy": policy, "damaged": damaged, "keys": [
            {"name": k.name, "fingerprint": k.fingerprint, "added": added.get(k.fingerprint)}
            for k in keys]}, indent=2))
        return 0
    print(f"unsigned packages: {policy}")
    if not keys:
        print("no trusted keys (add one with `devicelab keys add KEY.pub`)")
    width = max((len(k.name) for k in keys), default=0)
    for k in keys:
        print(f"{k.name:<{width}}  {k.fingerprint}  added {added.get(k.fingerprint) or '?'}")
    for line in damaged:
        print(f"warning: ignored: {line}")
    return 0


def cmd_remove(args: argparse.Namespace) -> int:
    from console.session.trust import remove_trusted_key

    removed = remove_trusted_key(args.key)
    for e in removed:
        print(f"no longer trusted: {e.get('name')}  {e.get('fingerprint')}")
    return 0


def cmd_policy(args: argparse.Namespace) -> int:
    from console.core.settings import load_settings
    from console.session.trust import policy_of, set_policy

    if args.policy is None:
        print(policy_of(load_settings()))
        return 0
    set_policy(args.policy)
    what = ("unsigned packages run with a warning" if args.policy == "warn"
            else "unsigned packages are refused")
    print(f"policy {args.policy}: {what}; bad or untrusted signatures are always refused")
    return 0
