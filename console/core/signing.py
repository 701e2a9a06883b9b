"""Ed25519 signatures over model packages: keys, ``manifest.sig``, checking.

Why the manifest and nothing else: ``manifest.json`` pins the sha256 of every
other file, and its own sha256 is the package's identity. One signature over
its exact bytes therefore vouches for the whole package, and the agent's
``--expect-digest`` check carries that trust to the device without the agent
needing any cryptography library.

What lives here (console side only, never shipped to devices):

- :func:`generate_key` writes a private key (OpenSSH format, the same as
  ``ssh-keygen -t ed25519`` writes, mode 0600, optionally encrypted with a
  passphrase) and its public half as one ``ssh-ed25519 AAAA… name`` line.
  Keys made by ``ssh-keygen -t ed25519`` work too.
- :func:`sign_package` refuses a package whose files do not match its
  manifest, then writes ``manifest.sig`` (directory, or rewritten ``.zip``).
- :func:`verify_signature` judges signature bytes against the manifest bytes
  and a list of :class:`TrustedKey`; it never raises on hostile input.

``manifest.sig`` is a small JSON object (format ``devicelab-signature/1``)::

    {"format": "devicelab-signature/1", "algorithm": "ed25519",
     "key_fingerprint": "SHA256:…",    # as `ssh-keygen -lf key.pub` prints it
     "key_name": "lab-release",        # the signer's label; display only
     "public_key": "<base64, 32 bytes>",
     "manifest_sha256": "<64 hex>",    # lets a mismatch say *why* it is bad
     "signed_at": "2024-05-01T12:00:00Z",
     "signature": "<base64, 64 bytes>"}

The signed message is ``b"devicelab-signature/1\\x00" + manifest.json bytes``
(the prefix keeps a package signature from ever being mistaken for anything
else signed with the same key, e.g. an SSH login). Only ``signature`` is
checked cryptographically; trust comes from the console's own list of
trusted keys (looked up by the fingerprint *computed* from the embedded key),
never from names written in the file.

Secrets: private keys are read here only to sign and are never written
anywhere but the file the user named; passphrases are never logged.
"""

from __future__ import annotations

import base64
import binascii
import datetime as _dt
import hashlib
import json
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from console.core.errors import UserError
from console.core.manifest import MANIFEST_NAME, SIGNATURE_NAME, sha256_bytes
from console.core.unpack import ZIP_DAMAGE

__all__ = [
    "SIG_FORMAT",
    "SignatureCheck",
    "SignedPackage",
    "SigningError",
    "TrustedKey",
    "fingerprint",
    "generate_key",
    "load_private_key",
    "load_public_key",
    "sign_manifest",
    "sign_package",
    "verify_signature",
]

SIG_FORMAT = "devicelab-signature/1"
ALGORITHM = "ed25519"
#: A real manifest.sig is ~500 bytes; anything this large is not one.
MAX_SIG_BYTES = 64 * 1024
_MAX_KEY_FILE = 64 * 1024
_FP_RE = re.compile(r"^SHA256:[A-Za-z0-9+/]{43}$")


class SigningError(UserError):
    """One line for the user: what failed, which file, what to do."""


@dataclass(frozen=True)
class TrustedKey:
    """A public key the console trusts, under the name the user gave it."""

    name: str
    public_key: bytes  # raw 32-byte Ed25519 public key

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.public_key)

    def to_settings(self, added: str | None = None) -> dict[str, Any]:
        """The ``settings.json`` ``trusted_keys`` entry (public data only)."""
        return {"name": self.name,
                "public_key": base64.b64encode(self.public_key).decode("ascii"),
                "fingerprint": self.fingerprint,
                "added": added or _utc_now()}

    @classmethod
    def from_settings(cls, entry: Any) -> TrustedKey:
        """Rebuild from a settings entry; the stored fingerprint must match the key."""
        if not isinstance(entry, dict):
            raise SigningError("a trusted_keys entry in settings.json is not an object")
        name = entry.get("name")
        if not isinstance(name, str) or not name:
            raise SigningError("a trusted_keys entry in settings.json has no name")
        try:
            raw = base64.b64decode(str(entry.get("public_key", "")), validate=True)
        except (binascii.Error, ValueError):
            raw = b""
        if len(raw) != 32:
            raise SigningError(f"trusted key {name!r} in settings.json has no valid Ed25519 "
                               "public key; remove it and add the key again")
        key = cls(name, raw)
        stored = entry.get("fingerprint")
        if stored is not None and stored != key.fingerprint:
            raise SigningError(f"trusted key {name!r} in settings.json: stored fingerprint "
                               f"{stored} does not match its key {key.fingerprint}; remove "
                               "it and add the key again")
        return key


@dataclass(frozen=True)
class SignatureCheck:
    """The verdict on one package's signature.

    ``status`` is ``unsigned`` | ``signed`` (valid, by a trusted key) |
    ``untrusted`` (valid, but the key is not trusted) | ``bad`` (does not
    verify, or is not a readable signature). ``key_name`` is the *trusted*
    name from the console's settings (only for ``signed``); ``claimed_name``
    is what the file says and is shown only as a hint.
    """

    status: str
    fingerprint: str | None = None
    key_name: str | None = None
    claimed_name: str | None = None
    reason: str | None = None

    @property
    def signer(self) -> str | None:
        """What the session records: ``NAME (SHA256:…)``, or the bare fingerprint."""
        if self.status == "signed":
            return f"{self.key_name} ({self.fingerprint})"
        if self.status == "untrusted":
            return self.fingerprint
        return None

    def line(self) -> str:
        """The one-line description ``package verify`` prints."""
        if self.status == "signed":
            return f"signed by {self.signer}"
        if self.status == "untrusted":
            hint = f" (it calls itself {self.claimed_name!r})" if self.claimed_name else ""
            return f"signed by an untrusted key {self.fingerprint}{hint}"
        if self.status == "bad":
            return f"bad signature: {self.reason}"
        return "unsigned"


@dataclass(frozen=True)
class SignedPackage:
    """What :func:`sign_package` did."""

    path: Path  # the package directory or zip that now holds manifest.sig
    name: str
    version: str
    digest: str  # sha256 of manifest.json: what was signed
    fingerprint: str
    key_name: str


# -- keys --------------------------------------------------------------------------------

def _utc_now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _raw_public(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def fingerprint(public_key: bytes) -> str:
    """``SHA256:…`` exactly as ``ssh-keygen -lf`` prints it for the same key."""
    if len(public_key) != 32:
        raise SigningError(f"an Ed25519 public key has 32 bytes, got {len(public_key)}")
    kind = b"ssh-ed25519"
    blob = (len(kind).to_bytes(4, "big") + kind + len(public_key).to_bytes(4, "big")
            + public_key)
    digest = base64.b64encode(hashlib.sha256(blob).digest()).decode("ascii").rstrip("=")
    return "SHA256:" + digest


def normalize_fingerprint(text: str) -> str | None:
    """``SHA256:xxx`` or bare ``xxx`` -> ``SHA256:xxx``; None if it is not one."""
    fp = text if text.startswith("SHA256:") else "SHA256:" + text
    return fp if _FP_RE.match(fp) else None


def clean_name(text: str, limit: int = 100) -> str:
    """A key name safe to print: no control characters (no terminal escapes)."""
    return "".join(ch if ch.isprintable() else "?" for ch in text.strip())[:limit]


def openssh_public_line(public_key: bytes, name: str = "") -> str:
    key = Ed25519PublicKey.from_public_bytes(public_key)
    line = key.public_bytes(serialization.Encoding.OpenSSH,
                            serialization.PublicFormat.OpenSSH).decode("ascii")
    return f"{line} {name}".rstrip()


def generate_key(path: str | os.PathLike[str], name: str, passphrase: bytes | None = None,
                 *, force: bool = False) -> TrustedKey:
    """Write a new private key to ``path`` (0600) and its public line to ``path.pub``.

    The private key is created with ``O_EXCL`` (never over an existing file
    unless ``force``) and mode 0600 from the first byte. Returns the public
    half, named ``name``.
    """
    priv_p = Path(path).expanduser()
    pub_p = priv_p.with_name(priv_p.name + ".pub")
    if not force:
        for p in (priv_p, pub_p):
            if p.exists():
                raise SigningError(f"{p} already exists; pass --force to overwrite it "
                                   "(the old key's signatures then no longer match a key "
                                   "you hold)")
    if not priv_p.parent.is_dir():
        raise SigningError(f"folder {priv_p.parent} does not exist; create it first")
    key = Ed25519PrivateKey.generate()
    enc: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase) if passphrase
        else serialization.NoEncryption())
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                            enc)
    public = _raw_public(key.public_key())
    try:
        # A temp file in the same folder is 0600 from creation (mkstemp), then renamed.
        fd, tmp = tempfile.mkstemp(prefix=".devicelab-key-", dir=priv_p.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(pem)
            if force:
                os.replace(tmp, priv_p)
            else:
                os.link(tmp, priv_p)  # fails if the name appeared meanwhile: never clobber
                os.unlink(tmp)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
        pub_p.write_text(openssh_public_line(public, name) + "\n", encoding="ascii")
    except FileExistsError:
        raise SigningError(f"{priv_p} already exists; pass --force to overwrite it") from None
    except OSError as exc:
        raise SigningError(f"cannot write key file {priv_p}: {exc.strerror}") from None
    return TrustedKey(name, public)


def _read_key_file(path: Path) -> bytes:
    try:
        if path.stat().st_size > _MAX_KEY_FILE:
            raise SigningError(f"{path} is too large to be a key file")
        return path.read_bytes()
    except FileNotFoundError:
        raise SigningError(f"key file not found: {path}") from None
    except IsADirectoryError:
        raise SigningError(f"{path} is a folder, not a key file") from None
    except OSError as exc:
        raise SigningError(f"cannot read key file {path}: {exc.strerror}") from None


def private_key_is_encrypted(path: str | os.PathLike[str]) -> bool:
    """True if loading ``path`` needs a passphrase (so a caller knows to ask)."""
    return _needs_passphrase(_read_key_file(Path(path).expanduser()))


def _needs_passphrase(data: bytes) -> bool:
    try:
        _load_private(data, None)
    except TypeError:
        return True
    except (ValueError, UnsupportedAlgorithm):
        return False
    return False


def _load_private(data: bytes, passphrase: bytes | None) -> Any:
    if b"BEGIN OPENSSH PRIVATE KEY" in data:
        return serialization.load_ssh_private_key(data, passphrase)
    return serialization.load_pem_private_key(data, passphrase)


def load_private_key(path: str | os.PathLike[str], passphrase: bytes | None = None
                     ) -> Ed25519PrivateKey:
    """An Ed25519 private key from an OpenSSH or PKCS#8 PEM file, with one-line errors."""
    p = Path(path).expanduser()
    data = _read_key_file(p)
    try:
        key = _load_private(data, passphrase)
    except TypeError:
        # cryptography: TypeError = encrypted without a password, or a password for a
        # key that has none.
        if passphrase:
            raise SigningError(f"{p} is not encrypted; sign without a passphrase") from None
        raise SigningError(f"{p} is encrypted; give its passphrase (--passphrase-env VAR, or "
                           "run in a terminal to be asked)") from None
    except ValueError:
        if passphrase and _needs_passphrase(data):
            raise SigningError(f"wrong passphrase for {p}") from None
        if b"PUBLIC KEY" in data or data.lstrip().startswith(b"ssh-"):
            raise SigningError(f"{p} is a public key; signing needs the private key file "
                               "(the one without .pub)") from None
        raise SigningError(f"{p} is not a readable private key (OpenSSH or PEM "
                           "expected)") from None
    except UnsupportedAlgorithm:
        raise SigningError(f"{p} uses a key type this console cannot read; make an "
                           "Ed25519 key with `devicelab package keygen`") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningError(f"{p} is a {type(key).__name__.replace('PrivateKey', '')} key; "
                           "package signatures need Ed25519 (`devicelab package keygen`, or "
                           "ssh-keygen -t ed25519)")
    return key


def load_public_key(path: str | os.PathLike[str]) -> tuple[bytes, str | None]:
    """Raw public key and its comment/name from an OpenSSH ``.pub`` line or a PEM file.

    A private key file is refused on purpose: trusted keys are public data
    in the settings file, and a private key must never be copied there.
    """
    p = Path(path).expanduser()
    data = _read_key_file(p)
    text = data.decode("utf-8", "replace").strip()
    if "PRIVATE KEY" in text:
        raise SigningError(f"{p} holds a PRIVATE key; add its public half ({p.name}.pub) "
                           "instead — private keys never go into the settings")
    if text.startswith("-----BEGIN PUBLIC KEY-----"):
        try:
            key = serialization.load_pem_public_key(data)
        except (ValueError, UnsupportedAlgorithm):
            raise SigningError(f"{p} is not a readable PEM public key") from None
        if not isinstance(key, Ed25519PublicKey):
            raise SigningError(f"{p} is not an Ed25519 key; package signatures need Ed25519")
        return _raw_public(key), None
    lines = [ln for ln in text.splitlines() if ln.strip() and not ln.startswith("#")]
    if len(lines) != 1:
        raise SigningError(f"{p} should hold one 'ssh-ed25519 AAAA… name' line, it has "
                           f"{len(lines)}")
    parts = lines[0].split(None, 2)
    if len(parts) < 2 or not parts[0].startswith("ssh-"):
        raise SigningError(f"{p} is not an OpenSSH public key line ('ssh-ed25519 AAAA… name')")
    if parts[0] != "ssh-ed25519":
        raise SigningError(f"{p} is a {parts[0]} key; package signatures need ssh-ed25519")
    try:
        key = serialization.load_ssh_public_key(f"{parts[0]} {parts[1]}".encode("ascii"))
    except (ValueError, UnsupportedAlgorithm, UnicodeEncodeError):
        raise SigningError(f"{p}: the ssh-ed25519 key data is damaged") from None
    if not isinstance(key, Ed25519PublicKey):
        raise SigningError(f"{p} is not an Ed25519 key")
    comment = clean_name(parts[2]) if len(parts) > 2 else None
    return _raw_public(key), comment or None


# -- signing -----------------------------------------------------------------------------

def _message(manifest_bytes: bytes) -> bytes:
    return SIG_FORMAT.encode("ascii") + b"\x00" + manifest_bytes


def sign_manifest(manifest_bytes: bytes, key: Ed25519PrivateKey, key_name: str) -> bytes:
    """The ``manifest.sig`` bytes for these exact manifest bytes."""
    public = _raw_public(key.public_key())
    doc = {
        "format": SIG_FORMAT,
        "algorithm": ALGORITHM,
        "key_fingerprint": fingerprint(public),
        "key_name": clean_name(key_name),
        "public_key": base64.b64encode(public).decode("ascii"),
        "manifest_sha256": sha256_bytes(manifest_bytes),
        "signed_at": _utc_now(),
        "signature": base64.b64encode(key.sign(_message(manifest_bytes))).decode("ascii"),
    }
    return (json.dumps(doc, indent=2) + "\n").encode("ascii")


def sign_package(package: str | os.PathLike[str], key: Ed25519PrivateKey, key_name: str
                 ) -> SignedPackage:
    """Sign a package directory or ``.zip`` in place (``manifest.sig``, atomically).

    Refused (``SigningError``) if the manifest is invalid or any file does
    not match its hash: a signature must only ever vouch for what is there.
    An existing signature is replaced.
    """
    from console.core.package import PackageError, open_package

    src = Path(package).expanduser()
    try:
        pkg = open_package(src, check_files=True)
    except PackageError as exc:
        raise SigningError(f"will not sign {src}: {exc}") from None
    sig = sign_manifest(pkg.manifest_bytes, key, key_name)
    if src.is_dir() or src.name == MANIFEST_NAME:
        root = src if src.is_dir() else src.parent
        _write_atomic(root / SIGNATURE_NAME, sig)
        target = root
    else:
        _rewrite_zip(src, sig)
        target = src
    public = _raw_public(key.public_key())
    return SignedPackage(path=target, name=pkg.manifest.name, version=pkg.manifest.version,
                         digest=pkg.digest, fingerprint=fingerprint(public),
                         key_name=clean_name(key_name))


def _write_atomic(path: Path, data: bytes) -> None:
    try:
        fd, tmp = tempfile.mkstemp(prefix=".sig-", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.chmod(tmp, 0o644)
            os.replace(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
    except OSError as exc:
        raise SigningError(f"cannot write {path}: {exc.strerror}") from None


def _rewrite_zip(path: Path, sig: bytes) -> None:
    """Copy every entry but an old signature, add the new one next to manifest.json."""
    try:
        with zipfile.ZipFile(path) as zin:
            names = [i.filename for i in zin.infolist()]
            prefix = ""
            if MANIFEST_NAME not in names:
                tops = [n for n in names if n.endswith("/" + MANIFEST_NAME)
                        and n.count("/") == 1]
                prefix = tops[0][: -len(MANIFEST_NAME)] if tops else ""
            fd, tmp = tempfile.mkstemp(prefix=".sign-", suffix=".zip", dir=path.parent)
            os.close(fd)
            try:
                with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zout:
                    for info in zin.infolist():
                        if info.filename == prefix + SIGNATURE_NAME:
                            continue
                        with zin.open(info) as s, zout.open(info, "w") as d:
                            shutil.copyfileobj(s, d, 1 << 20)
                    zout.writestr(prefix + SIGNATURE_NAME, sig)
                shutil.copymode(path, tmp)
                os.replace(tmp, path)
            except BaseException:
                if os.path.exists(tmp):
                    os.unlink(tmp)
                raise
    except (OSError, *ZIP_DAMAGE) as exc:
        raise SigningError(f"cannot rewrite {path} with the signature: "
                           f"{getattr(exc, 'strerror', None) or exc}") from None


# -- checking ----------------------------------------------------------------------------

def _b64(value: Any, size: int) -> bytes | None:
    if not isinstance(value, str):
        return None
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None
    return raw if len(raw) == size else None


def verify_signature(manifest_bytes: bytes, sig_bytes: bytes | None,
                     trusted_keys: Iterable[TrustedKey]) -> SignatureCheck:
    """Judge ``manifest.sig`` bytes (None: no file) against the exact manifest bytes.

    Never raises for anything in the signature file: a hostile or damaged
    file is simply ``bad``. A valid signature is ``signed`` only if its key
    (matched by full public key, not by name) is in ``trusted_keys``.
    """
    if sig_bytes is None:
        return SignatureCheck("unsigned")
    if len(sig_bytes) > MAX_SIG_BYTES:
        return SignatureCheck("bad", reason=f"{SIGNATURE_NAME} is larger than "
                                            f"{MAX_SIG_BYTES} bytes; not a signature")
    try:
        doc = json.loads(sig_bytes.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return SignatureCheck("bad", reason=f"{SIGNATURE_NAME} is not a devicelab signature "
                                            "(not JSON)")
    if not isinstance(doc, dict) or doc.get("format") != SIG_FORMAT:
        fmt = doc.get("format") if isinstance(doc, dict) else None
        return SignatureCheck("bad", reason=f"{SIGNATURE_NAME} format is {fmt!r}, expected "
                                            f"{SIG_FORMAT!r}")
    if doc.get("algorithm") != ALGORITHM:
        return SignatureCheck("bad", reason=f"algorithm {doc.get('algorithm')!r} is not "
                                            f"supported (only {ALGORITHM})")
    claimed = doc.get("key_name")
    claimed_name = clean_name(claimed) if isinstance(claimed, str) and claimed.strip() else None
    public = _b64(doc.get("public_key"), 32)
    signature = _b64(doc.get("signature"), 64)
    if public is None or signature is None:
        return SignatureCheck("bad", claimed_name=claimed_name,
                              reason=f"{SIGNATURE_NAME} has a damaged public_key or signature")
    fp = fingerprint(public)
    if doc.get("key_fingerprint") != fp:
        return SignatureCheck("bad", fingerprint=fp, claimed_name=claimed_name,
                              reason="key_fingerprint does not match the embedded key")
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(signature, _message(manifest_bytes))
    except (InvalidSignature, ValueError):
        if doc.get("manifest_sha256") != sha256_bytes(manifest_bytes):
            reason = "manifest.json was changed after it was signed"
        else:
            reason = "the signature does not match manifest.json"
        return SignatureCheck("bad", fingerprint=fp, claimed_name=claimed_name, reason=reason)
    for tk in trusted_keys:
        if tk.public_key == public:
            return SignatureCheck("signed", fingerprint=fp, key_name=tk.name,
                                  claimed_name=claimed_name)
    return SignatureCheck("untrusted", fingerprint=fp, claimed_name=claimed_name)
