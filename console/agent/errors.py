"""The agent's one error type: a machine-readable code and the line a user reads.

Every failure inside the agent ends as a protocol ``error`` message built from
these two fields, so the console can act on ``code`` and show ``text``.
"""

from __future__ import annotations


class AgentError(Exception):
    def __init__(self, code: str, text: str) -> None:
        super().__init__(text)
        self.code = code
        self.text = text
