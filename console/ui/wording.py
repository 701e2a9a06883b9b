"""The session layer's one-line errors name CLI options and commands as the way out
(``pass --package …``, ``devicelab keys policy warn``); in the window the same way
out is a field or a menu. One place rewords them, per context: the figures, paths
and hashes in the line stay exactly as they were.
"""

from __future__ import annotations

import re

#: (regular expression, window wording), most specific first
Wording = tuple[tuple[str, str], ...]

#: replay refusals: the CLI's options become the Reproduce dialog's fields
REPRODUCE: Wording = (
    (r"pass --package with an intact copy",
     "choose an intact copy as Package copy in Reproduce"),
    (r"pass --package with the recorded package",
     "choose a copy of the recorded package as Package copy in Reproduce"),
    (r"pass --package with a copy", "choose a copy of it as Package copy in Reproduce"),
    (r"pass --package", "choose a Package copy in Reproduce"),
    (r"pass --input with the recorded clip",
     "choose a copy of the recorded clip as Recording copy in Reproduce"),
    (r"pass --input with a copy", "choose a copy of it as Recording copy in Reproduce"),
    (r"pass --input with the full URL", "enter the full URL as Recording copy in Reproduce"),
    (r"pass --input", "choose a Recording copy in Reproduce"),
    (r"pass --device", "choose a device in Reproduce"),
    (r"pass a copy of it", "choose a copy of it"),
    (r"use 'devicelab run' for another one", "use Start in the Run dock for another one"),
    (r"(?<![\w-])--package\b", "Package copy"),
    (r"(?<![\w-])--input\b", "Recording copy"),
    (r"(?<![\w-])--device\b", "the device chosen in Reproduce"),
)

#: signing-policy advice: the window's own place for it (signing stays a CLI step)
SIGNING: Wording = (
    (r"`devicelab keys policy refuse`", "Settings → Package signing (refuse)"),
    (r"`devicelab keys policy warn`", "Settings → Package signing (warn)"),
    (r"`devicelab keys add KEY\.pub`", "Settings → Package signing → Add…"),
    (r"pick another --name", "pick another name"),  # the dialog's name field
)


def for_window(text: str, wording: Wording) -> str:
    for pattern, repl in wording:
        text = re.sub(pattern, repl, text)
    return text
