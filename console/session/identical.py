"""Find a comparison's identical sessions in the log and measure the device's spread.

The statistics are :mod:`console.core.verdicts.noise`'s; this module only reads
the log: the completed sessions that ran what A (and B) ran, on the same
device, excluding A and B themselves, the nearest in time first.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from console.core.store import LogStore
from console.core.verdicts import MIN_DF, MeasuredNoise, identity_key, measured_noise
from console.core.verdicts.figures import RUN_NOISE
from console.core.verdicts.noise import MOST_SESSIONS, same_device


def identical_sessions(store: LogStore, row: Mapping[str, Any], exclude: set[int],
                       most: int = MOST_SESSIONS) -> list[dict[str, Any]]:
    """Completed sessions identical to ``row`` (device, package, input, settings), the
    ``most`` nearest to it in time, without the ids in ``exclude``."""
    if not row.get("package_digest") or not row.get("input_sha256"):
        return []  # synthetic or camera input: no recording to call identical
    key = identity_key(row)
    t = float(row.get("created_unix_s") or 0.0)
    same = [r for r in store.same_runs(str(row["package_digest"]), str(row["input_sha256"]))
            if int(r["id"]) not in exclude and r.get("summary") and identity_key(r) == key]
    same.sort(key=lambda r: abs(float(r.get("created_unix_s") or 0.0) - t))
    return same[:most]


def spread_for(store: LogStore, a: Mapping[str, Any], b: Mapping[str, Any], level: float
               ) -> tuple[MeasuredNoise | None, dict[str, Any]]:
    """The measured allowance for comparing B against A (None: assume
    :data:`RUN_NOISE`) and what to report about it (``Comparison.run_noise``)."""
    if not same_device(a, b):
        return None, {"source": "assumed",
                      "why": "A and B ran on different devices: one's spread says nothing "
                             "of the other's"}
    ids = {int(a["id"]), int(b["id"])}
    ga = identical_sessions(store, a, ids)
    gb = [] if identity_key(a) == identity_key(b) else identical_sessions(store, b, ids)
    noise = measured_noise([g for g in (ga, gb) if g], RUN_NOISE, level,
                           [int(r["id"]) for r in ga], [int(r["id"]) for r in gb])
    if noise is None:
        return None, {"source": "assumed",
                      "why": f"{len(ga) + len(gb)} identical session"
                             f"{'s' if len(ga) + len(gb) != 1 else ''} of A or B on this "
                             f"device in the log; measuring its spread takes {MIN_DF + 1} of "
                             "one side (or as many degrees of freedom over both)"}
    return noise, noise.describe()


def spread_of_one(store: LogStore, row: Mapping[str, Any], level: float
                  ) -> MeasuredNoise | None:
    """The measured allowance for one session's own intervals (budgets), from the
    sessions identical to it; None: assume :data:`RUN_NOISE`."""
    same = identical_sessions(store, row, {int(row["id"])})
    return measured_noise([same], RUN_NOISE, level, [int(r["id"]) for r in same]) \
        if same else None


def spread_text(rn: Mapping[str, Any]) -> str:
    """One line for ``Comparison.run_noise``: where the run-to-run part came from."""
    src = rn.get("source")
    if src == "measured":
        e2e = (rn.get("spread") or {}).get("e2e p50")
        at = f", ±{e2e * 100:.1f} % at e2e p50" if e2e is not None else ""
        return (f"run-to-run spread: measured from {rn.get('sessions')} identical sessions "
                f"on this device ({rn.get('df')} degrees of freedom{at})")
    if src == "assumed":
        return (f"run-to-run spread: assumed (±{RUN_NOISE['p50'] * 100:g} % at p50, the shared "
                f"lab VMs') — {rn.get('why', '')}")
    if src == "repetitions":
        return "run-to-run spread: measured between the repeated sessions compared"
    return "run-to-run spread: as given" if src == "given" else ""


def spread_words(rn: Mapping[str, Any]) -> str:
    """The short form for a plan cell's line: `` (spread measured, 12 identical
    sessions)`` / `` (spread assumed)``."""
    if rn.get("source") == "measured":
        return f" (spread measured, {rn.get('sessions')} identical sessions)"
    return " (spread assumed)" if rn.get("source") == "assumed" else ""
