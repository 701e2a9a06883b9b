"""A device's saved default run settings for a package: what a sweep recommended.

``devicelab sweep --save`` stores the winning setting (threads, execution
provider, graph optimization level, spin) for one device and one package
in the settings file (``console.core.settings``, section ``run_defaults``,
keyed by the device as it was named — ``local`` for this computer — and
the package's manifest name, so a rebuilt version of the package keeps
its defaults). ``devicelab run`` and plan runs take these for every one of
those settings they were not given: an explicit ``--threads``, a plan's
``[run] threads`` always wins.

What must not live here: running anything, statistics (``console.session.sweep``).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from console.core.errors import UserError
from console.core.settings import Settings, load_settings, update_settings
from console.devices.base import AgentOptions
from console.devices.spec import LOCAL_NAMES

#: the run settings a sweep tunes (and a saved default may set)
TUNED_KEYS = ("threads", "provider", "graph_opt", "spin")


def device_key(spec: str) -> str:
    """How a device is named in ``run_defaults``: as given, ``local`` for this computer."""
    s = spec.strip()
    return "local" if s in LOCAL_NAMES else s


def package_name(path: str | Path) -> str:
    """A package's manifest name (its files are not hashed here)."""
    from console.core.package import open_package

    return open_package(path, check_files=False).manifest.name


def saved(device: str, package: str, settings: Settings | None = None
          ) -> dict[str, Any] | None:
    """The saved default of ``package`` (manifest name) on ``device``, or None."""
    s = settings if settings is not None else load_settings()
    return s.run_default(device_key(device), package)


def apply(opts: AgentOptions, default: Mapping[str, Any] | None, given: Iterable[str]
          ) -> tuple[AgentOptions, dict[str, Any]]:
    """``opts`` with the saved ``default`` for every tuned key not in ``given``, and
    what was applied."""
    if not default:
        return opts, {}
    told = set(given)
    # a saved provider of None is "the default provider"; no other setting is ever None
    applied = {k: default[k] for k in TUNED_KEYS if k in default and k not in told
               and (default[k] is not None or k == "provider")}
    return (replace(opts, **applied) if applied else opts), applied


def describe(default: Mapping[str, Any]) -> str:
    sweep = default.get("sweep")
    when = default.get("saved_at")
    stamp = time.strftime("%Y-%m-%d", time.localtime(float(when))) if when else ""
    return " ".join(x for x in (f"sweep {str(sweep)[:12]}" if sweep else "saved",
                                f"on {stamp}" if stamp else "") if x)


def applied_words(applied: Mapping[str, Any], why: str) -> str:
    """What a run took from a saved default, as the CLI and the window say it ("" when
    nothing differs from the plain defaults)."""
    plain = AgentOptions()
    shown = {k: v for k, v in applied.items() if getattr(plain, k) != v}
    if not shown:
        return ""
    return (f"using the saved defaults for this device and package ({why}): "
            + " ".join(f"{k}={v}" for k, v in shown.items()))


def apply_saved(opts: AgentOptions, device: str, package_path: str | Path,
                given: Iterable[str]) -> tuple[AgentOptions, dict[str, Any], str]:
    """For ``devicelab run``: the options with this device's saved default for the
    package, what was applied, and where it came from. Raises the settings' or the
    package's one-line errors (the caller decides whether that stops it)."""
    settings = load_settings()
    if not settings.run_defaults.get(device_key(device)):
        return opts, {}, ""  # nothing saved for this device: the package is not opened
    try:
        name = package_name(package_path)
    except UserError:
        return opts, {}, ""  # an unreadable package: the run refuses it in its own words
    default = saved(device, name, settings)
    opts, applied = apply(opts, default, given)
    return opts, applied, describe(default) if default else ""


def save(device: str, package: str, setting: Mapping[str, Any],
         meta: Mapping[str, Any] | None = None, path: Path | None = None) -> dict[str, Any]:
    """Store ``setting`` (its :data:`TUNED_KEYS`) as ``device``'s default for ``package``."""
    entry = {k: setting[k] for k in TUNED_KEYS if k in setting} | dict(meta or {}) | \
        {"saved_at": time.time()}

    def change(s: Settings) -> None:
        s.run_defaults.setdefault(device_key(device), {})[package] = entry

    update_settings(change, path)
    return entry
