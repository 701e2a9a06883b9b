"""Fixtures for the fault tests: the SSH helper's real sshd, reused (not duplicated).

``sshd`` and ``ssh_env`` are the very fixtures of tests/ssh/conftest.py
(skip locally without sshd, fail under ``CI=true``; after each test no agent
and no connection may be left on the device).
"""

from __future__ import annotations

from ssh.conftest import agent_pids, ssh_env, sshd, wait_no_agent  # noqa: F401 - fixtures
