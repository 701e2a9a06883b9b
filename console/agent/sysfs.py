"""Reading /proc and /sys the way real boards need: one open and one read per file, and
every failure (EINVAL, EIO, ENODATA from read(), not only open()) turned into "absent".

Standard library only and Python 3.8 syntax: copied to the device with the agent.
"""

# The agent must import on a device's Python 3.8, where typing.get_type_hints() cannot
# evaluate ``dict[str, Any]`` or ``X | None``; keep typing.Dict/List/Optional here.

from __future__ import annotations

import glob
import os
import re
from typing import Any, Dict, List, Optional, Tuple

#: One read is enough for every file we touch: sysfs attributes are at most a page,
#: and of the /proc files we only need the beginning.
READ_SIZE = 8192

def read_or_error(path: str) -> Tuple[Optional[str], Optional[OSError]]:
    """Text of a small file in one open/read, or the OSError that stopped it.

    sysfs reports most failures (EINVAL, EIO, ENODATA) from read(), not open(),
    so both are covered.
    """
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        return None, exc
    try:
        return os.read(fd, READ_SIZE).decode("latin-1"), None
    except OSError as exc:
        return None, exc
    finally:
        os.close(fd)


def read_small(path: str) -> Optional[str]:
    return read_or_error(path)[0]


def parse_int(text: Optional[str]) -> Optional[int]:
    if text is None:
        return None
    try:
        return int(text.strip())
    except ValueError:
        return None


def first_line(path: str) -> str:
    """First line of a file, stripped; '' when unreadable."""
    text = read_small(path)
    return text.strip().split("\n", 1)[0].strip() if text else ""


def natural_key(path: str) -> List[Any]:
    return [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", path)]


def natural_glob(pattern: str) -> List[str]:
    return sorted(glob.glob(pattern), key=natural_key)


def unique_key(key: str, taken: Dict[str, int]) -> str:
    """``key``, or ``key.1``, ``key.2`` ... when it is already taken."""
    n = taken.get(key, 0)
    taken[key] = n + 1
    return key if n == 0 else f"{key}.{n}"


def clk_tck() -> Optional[int]:
    try:
        ticks = os.sysconf("SC_CLK_TCK")
    except (ValueError, OSError):
        return None
    return ticks if ticks > 0 else None


