"""SSH login: which keys, agent keys and passwords are tried, in which order.

:class:`ConsoleAuth` is a paramiko ``AuthStrategy`` that tries the given key
file and IdentityFiles, the ssh-agent, ``~/.ssh/id_*``, then a password.
Passphrases and passwords come from a ``PasswordPrompt`` (CLI: getpass on a
terminal; window: a dialog) when needed and are never kept, logged or
stored. Its :meth:`ConsoleAuth.failure_text` is the one line a refused login
shows: what was tried and what to do.
"""

from __future__ import annotations

import contextlib
import getpass
import os
from collections.abc import Callable, Iterator
from typing import Any

import paramiko
from paramiko.auth_strategy import AuthSource, AuthStrategy, InMemoryPrivateKey

from console.devices.hostkeys import fingerprint_sha256
from console.devices.ssh.target import SSHTarget

PasswordPrompt = Callable[[str], "str | None"]


def tty_prompt(prompt: str) -> str | None:
    try:
        return getpass.getpass(prompt)
    except (EOFError, KeyboardInterrupt, OSError):
        return None


class _NoneProbe(AuthSource):
    """Auth "none": either lets us in or tells which methods the server allows."""

    def __init__(self, username: str, sink: ConsoleAuth) -> None:
        super().__init__(username=username)
        self.sink = sink

    def authenticate(self, transport: paramiko.Transport) -> Any:
        try:
            return transport.auth_none(self.username)
        except paramiko.BadAuthenticationType as exc:
            self.sink.allowed = set(exc.allowed_types)
            raise


class _PromptedPassword(AuthSource):
    """The password asked for once, sent as "password" auth or, when the server offers
    only "keyboard-interactive" (PAM setups often do), as the answer to its hidden
    prompts. The password lives in this call only; nothing keeps it."""

    def __init__(self, username: str, ask: Callable[[], str | None],
                 allowed: Callable[[], set[str] | None]) -> None:
        super().__init__(username=username)
        self.ask = ask
        self.allowed = allowed

    def authenticate(self, transport: paramiko.Transport) -> Any:
        pw = self.ask()
        if not pw:
            raise paramiko.AuthenticationException("no password given")
        allowed = self.allowed()
        if allowed is not None and "password" not in allowed and \
                "keyboard-interactive" in allowed:
            return transport.auth_interactive(self.username, _answer_with(pw))
        return transport.auth_password(self.username, pw)


def _answer_with(pw: str) -> Callable[[str, str, list[tuple[str, bool]]], list[str]]:
    """A keyboard-interactive handler: the password for hidden prompts, once.

    Echoed prompts (not secrets: a user name, a menu) get an empty answer, and
    a second round of hidden prompts (an OTP after the password, or the server
    asking again after a wrong one) gets empty answers too, so the password is
    never sent twice and the login fails in one line instead of looping.
    """
    sent = False

    def handler(title: str, instructions: str, prompts: list[tuple[str, bool]]) -> list[str]:
        nonlocal sent
        hidden = [not echo for _text, echo in prompts]
        if any(hidden) and not sent:
            sent = True
            return [pw if h else "" for h in hidden]
        return ["" for _ in prompts]

    return handler


class ConsoleAuth(AuthStrategy):
    """Key files, ssh-agent, default keys, then a prompted password (see module doc)."""

    def __init__(self, target: SSHTarget, prompt: PasswordPrompt | None) -> None:
        super().__init__(ssh_config=None)
        self.target = target
        self.prompt = prompt
        self.allowed: set[str] | None = None
        self.tried: list[str] = []
        self.notes: list[str] = []
        self.agent: paramiko.Agent | None = None

    def _load(self, path: str) -> paramiko.PKey | None:
        try:
            return paramiko.PKey.from_path(path)
        except paramiko.PasswordRequiredException:
            pass
        except TypeError as exc:  # cryptography's way of saying "needs a password"
            if "password" not in str(exc).lower():
                self.notes.append(f"key {path} unusable ({exc})")
                return None
        except FileNotFoundError:
            return None
        except Exception as exc:  # unknown key type, corrupt file, …
            self.notes.append(f"key {path} unusable ({exc})")
            return None
        if self.prompt is None:
            self.notes.append(f"key {path} needs its passphrase (run from a terminal, or add "
                              "it to ssh-agent)")
            return None
        for _ in range(3):
            pw = self.prompt(f"Passphrase for key {path}: ")
            if not pw:
                self.notes.append(f"no passphrase given for key {path}")
                return None
            try:
                return paramiko.PKey.from_path(path, pw.encode("utf-8"))
            except Exception:  # wrong passphrase (ValueError/SSHException by version)
                continue
        self.notes.append(f"wrong passphrase for key {path}")
        return None

    def get_sources(self) -> Iterator[AuthSource]:
        user = self.target.user
        yield _NoneProbe(user, self)
        allowed = self.allowed
        if allowed is None or "publickey" in allowed:
            seen: set[str] = set()
            defaults = [os.path.expanduser(f"~/.ssh/id_{k}") for k in ("ed25519", "ecdsa", "rsa")]
            files = list(self.target.identity_files)
            for path in files:
                if path in seen:
                    continue
                seen.add(path)
                if not os.path.isfile(path):
                    self.notes.append(f"key file {path} not found")
                    continue
                key = self._load(path)
                if key is not None:
                    self.tried.append(f"key {path}")
                    yield InMemoryPrivateKey(user, key)
            if not self.target.identities_only:
                try:
                    self.agent = paramiko.Agent()
                    agent_keys = list(self.agent.get_keys())
                except (paramiko.SSHException, OSError) as exc:
                    self.notes.append(f"ssh-agent unusable ({exc})")
                    agent_keys = []
                for k in agent_keys:
                    self.tried.append(f"agent key {fingerprint_sha256(k)}")
                    yield InMemoryPrivateKey(user, k)
                for path in defaults:
                    if path in seen or not os.path.isfile(path):
                        continue
                    seen.add(path)
                    key = self._load(path)
                    if key is not None:
                        self.tried.append(f"key {path}")
                        yield InMemoryPrivateKey(user, key)
        prompt = self.prompt
        if prompt is not None and (allowed is None
                                   or {"password", "keyboard-interactive"} & allowed):
            self.tried.append("password")
            t = self.target
            yield _PromptedPassword(user, lambda: prompt(f"Password for {t.user}@{t.host}: "),
                                    lambda: self.allowed)

    def close(self) -> None:
        if self.agent is not None:
            with contextlib.suppress(Exception):
                self.agent.close()
            self.agent = None

    def failure_text(self) -> str:
        t = self.target
        tried = ", ".join(self.tried) or "no key at all (no key file, ssh-agent or ~/.ssh/id_*)"
        notes = f" ({'; '.join(self.notes)})" if self.notes else ""
        return (f"SSH login as {t.user} on {t.hostkey_name} refused: tried {tried}{notes}; add "
                f"your public key to ~{t.user}/.ssh/authorized_keys on the device, or give the "
                "right key (--key-file, devicelab devices add … --key-file, or IdentityFile "
                "in ~/.ssh/config)")

