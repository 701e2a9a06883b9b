"""The one base class of every user-facing refusal.

Modelled on qutebrowser's ``cmdutils.CommandError``: whatever the console
refuses (a tampered package, an unknown host key, a damaged log, a bad
budget) raises a subclass of :class:`UserError`, and ``str(exc)`` is the one
line the user reads: what failed, which file/field/host, what to do. The
command runner (``console.cli``) and the window's job runner catch exactly
this type; anything else that escapes is a bug and is reported as an
internal error with its traceback in the log file.

Shipped to devices inside the agent bundle (``console.core.manifest``
inherits from it), so: standard library only, Python 3.8+.
"""

from __future__ import annotations


class UserError(Exception):
    """A refusal whose message is already the one line a user should read."""


#: What a job runner shows as its own one line rather than as an internal error: the
#: refusals, and OS errors (their text names the file and the reason).
EXPECTED_ERRORS: tuple[type[Exception], ...] = (UserError, OSError)
