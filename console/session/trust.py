"""Which packages this console will run: trusted signing keys and the package policy.

The cryptography is in :mod:`console.core.signing`; this module joins it to
the user's settings (``trusted_keys``, ``preferences.package_policy``) and
decides. The rules, the same for the CLI and the window:

- a bad signature, or a valid signature by a key that is not trusted, is
  always refused (no setting turns that off);
- an unsigned package is run with a warning under ``warn`` (the default)
  and refused under ``refuse``;
- a package signed by a trusted key runs, and the session records the
  signer as ``NAME (SHA256:…)``.

Refusals are appended to ``Verification.problems`` (so ``ver.ok`` turns
false and ``package verify`` exits 2) and are one line each. The settings
file holds public keys only; nothing here reads or stores a private key.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from console.core.errors import UserError
from console.core.manifest import SIGNATURE_NAME, PackageError
from console.core.package import Verification
from console.core.settings import Settings, SettingsError, load_settings, update_settings
from console.core.signing import (
    MAX_SIG_BYTES,
    SignatureCheck,
    SigningError,
    TrustedKey,
    normalize_fingerprint,
    verify_signature,
)

POLICIES = ("warn", "refuse")
DEFAULT_POLICY = "warn"
UNSIGNED_WARNING = ("package is unsigned: nobody vouches for it (sign it with `devicelab "
                    "package sign`, or refuse unsigned packages with `devicelab keys policy "
                    "refuse`)")


class TrustError(UserError):
    """A refused change to the trusted keys or the policy: one line for the user."""


# -- reading the settings ---------------------------------------------------------------

def trusted_keys(settings: Settings) -> tuple[list[TrustedKey], list[str]]:
    """The usable trusted keys, and one line per damaged entry (those are ignored)."""
    keys: list[TrustedKey] = []
    damaged: list[str] = []
    for entry in settings.trusted_keys:
        try:
            keys.append(TrustedKey.from_settings(entry))
        except SigningError as exc:
            damaged.append(str(exc))
    return keys, damaged


def policy_of(settings: Settings) -> str:
    """``warn`` or ``refuse``; a hand-edited unknown value raises (and so refuses)."""
    value = settings.preferences.get("package_policy", DEFAULT_POLICY)
    if value not in POLICIES:
        raise TrustError(f"settings.json: preferences.package_policy is {value!r}, expected "
                         f"warn or refuse; fix it with `devicelab keys policy warn|refuse`")
    return str(value)


# -- judging a package ----------------------------------------------------------------

def _read_sig(root: Path) -> bytes | None:
    path = root / SIGNATURE_NAME
    if not path.is_file():
        return None
    with open(path, "rb") as fh:
        return fh.read(MAX_SIG_BYTES + 1)


def _refuse(ver: Verification, message: str) -> str:
    err = PackageError(SIGNATURE_NAME, message)
    if str(err) not in {str(p) for p in ver.problems}:
        ver.problems.append(err)
    return f"package refused: {err}"


def check_signature(ver: Verification, settings: Settings | None = None) -> str | None:
    """Fill ``ver.signature`` / ``ver.signer`` and apply the policy.

    Returns the one-line refusal (also appended to ``ver.problems``), or None
    when the package may run. A verification that already failed (no
    package) is left alone: its own problems say why. Calling it twice on
    the same verification adds nothing twice.
    """
    pkg = ver.package
    if pkg is None:
        return None
    try:
        s = settings if settings is not None else load_settings()
        policy = policy_of(s)
    except (SettingsError, TrustError) as exc:
        return _refuse(ver, f"cannot check the signature: {exc}")
    keys, damaged = trusted_keys(s)
    for line in damaged:
        if line not in ver.warnings:
            ver.warnings.append(f"ignored: {line}")
    try:
        sig = _read_sig(pkg.root)
    except OSError as exc:
        return _refuse(ver, f"cannot be read ({exc.strerror}); fix the file's permissions or "
                            "remove it")
    check: SignatureCheck = verify_signature(pkg.manifest_bytes, sig, keys)
    ver.signature = check.status
    ver.signer = check.signer
    if check.status == "bad":
        return _refuse(ver, f"{check.line()}; the package was altered or the signature is "
                            "damaged — get the package again from its publisher")
    if check.status == "untrusted":
        return _refuse(ver, f"{check.line()}; if you trust its publisher, add their public "
                            "key with `devicelab keys add KEY.pub`")
    if check.status == "unsigned":
        if policy == "refuse":
            return _refuse(ver, "package is unsigned and the policy refuses unsigned packages "
                                "(sign it with `devicelab package sign`, or `devicelab keys "
                                "policy warn`)")
        if UNSIGNED_WARNING not in ver.warnings:
            ver.warnings.append(UNSIGNED_WARNING)
    return None


def package_policy(settings: Settings | None = None) -> Callable[[Verification], str | None]:
    """The callable :class:`~console.session.run.Run` takes as ``package_policy``.

    Settings are read when the run checks its package (not now), so a key
    added while the window is open counts for the next run.
    """
    def policy(ver: Verification) -> str | None:
        return check_signature(ver, settings)

    return policy


# -- changing the settings ------------------------------------------------------------

def _find(settings: Settings, ident: str) -> list[dict[str, Any]]:
    fp = normalize_fingerprint(ident)
    return [e for e in settings.trusted_keys if isinstance(e, dict)
            and (e.get("name") == ident or (fp is not None and e.get("fingerprint") == fp))]


def add_trusted_key(key: TrustedKey, path: Path | None = None) -> tuple[dict[str, Any], bool]:
    """Trust ``key`` under ``key.name``. Returns (entry, added); added False if already trusted.

    Refused if the name is taken by a different key, or looks like a
    fingerprint (``keys remove`` takes either, so they must not collide).
    """
    name = key.name
    if not name or len(name) > 100 or not name.isprintable():
        raise TrustError(f"key name {name!r} must be 1-100 printable characters")
    if normalize_fingerprint(name) is not None:
        raise TrustError(f"key name {name!r} looks like a fingerprint; pick another --name")
    result: dict[str, Any] = {}

    def change(s: Settings) -> None:
        for e in s.trusted_keys:
            if isinstance(e, dict) and e.get("fingerprint") == key.fingerprint:
                result.update(entry=e, added=False)
                return
        if any(isinstance(e, dict) and e.get("name") == name for e in s.trusted_keys):
            raise TrustError(f"another key is already trusted as {name!r}; pick another --name "
                             f"or `devicelab keys remove {name}` first")
        entry = key.to_settings()
        s.trusted_keys.append(entry)
        result.update(entry=entry, added=True)

    _update(change, path)
    return result["entry"], bool(result["added"])


def remove_trusted_key(ident: str, path: Path | None = None) -> list[dict[str, Any]]:
    """Stop trusting the key(s) named ``ident`` or with that fingerprint; returns them."""
    removed: list[dict[str, Any]] = []

    def change(s: Settings) -> None:
        found = _find(s, ident)
        if not found:
            raise TrustError(f"no trusted key is named or has the fingerprint {ident!r}; "
                             "see `devicelab keys list`")
        removed.extend(found)
        s.trusted_keys = [e for e in s.trusted_keys if all(e is not f for f in found)]

    _update(change, path)
    return removed


def set_policy(policy: str, path: Path | None = None) -> None:
    if policy not in POLICIES:
        raise TrustError(f"policy must be warn or refuse, got {policy!r}")

    def change(s: Settings) -> None:
        s.preferences["package_policy"] = policy

    _update(change, path)


def _update(fn: Callable[[Settings], None], path: Path | None) -> None:
    try:
        update_settings(fn, path)
    except SettingsError as exc:
        raise TrustError(str(exc)) from None
