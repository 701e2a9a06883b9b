"""The telemetry plots (CPU, memory, temperature, CPU frequency): curves, titles, "no data".

Telemetry is drawn from :class:`~console.ui.live.data.TelemetryHistory`,
whose series are named as ``console.core.protocol.flatten_sample`` names
them: a scalar under its key (``cpu_sys``), a reading of a map under
``<map>.<name>`` (``thermal.cpu-thermal``, ``freq_mhz.cpu0``). A plot whose
figure the device does not report says so in words and draws nothing,
never a line at zero.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from console.core import protocol as P
from console.ui.live.data import TelemetryHistory
from console.ui.live.panels import (
    DYNAMIC_SERIES,
    FIXED_SERIES,
    TELEMETRY_PLOTS,
    PlotPanel,
    series_prefix,
)

#: curves per plot for per-zone / per-CPU series; the rest are listed, not drawn
MAX_DYNAMIC_CURVES = 8
#: a run this long (s) with frames but no sample has no telemetry at all
NO_TELEMETRY_AFTER_S = 5.0


def draw(panels: Mapping[str, PlotPanel], tel: TelemetryHistory, t_from: float,
         colors: dict[str, Any]) -> None:
    """Feed every telemetry curve the samples from ``t_from`` on (new zones get a curve)."""
    for key, series in FIXED_SERIES.items():
        panel = panels[key]
        for name, _label in series:
            x, y = tel.series(name)
            k = int(np.searchsorted(x, t_from)) if len(x) else 0
            panel.curves[name].setData(x[k:], y[k:])
    for key, group in DYNAMIC_SERIES.items():
        panel = panels[key]
        prefix = series_prefix(group)
        for name in tel.names(prefix):
            curve = panel.curves.get(name)
            if curve is None:
                if len(panel.curves) >= MAX_DYNAMIC_CURVES:
                    if name[len(prefix):] not in panel.overflow:
                        panel.overflow.append(name[len(prefix):])
                    continue
                k = len(panel.curves)
                curve = panel.add_curve(name, name[len(prefix):],
                                        colors["series"][k % len(colors["series"])])
            x, y = tel.series(name)
            k = int(np.searchsorted(x, t_from)) if len(x) else 0
            curve.setData(x[k:], y[k:])


def titles(panels: Mapping[str, PlotPanel], tel: TelemetryHistory) -> dict[str, str]:
    """The telemetry plots' titles with their current values (only plots that have some)."""
    out: dict[str, str] = {}
    parts = [f"{label} {v:.0f}%" for name, label in ((P.CPU_SYS, "system"),
                                                      (P.CPU_AGENT, "agent"))
             if (v := tel.latest(name)) is not None]
    if parts:
        out["cpu"] = "CPU — " + " · ".join(parts)
    rss, used, total = tel.latest(P.RSS), tel.latest(P.MEM_USED), tel.latest(P.MEM_TOTAL)
    parts = []
    if rss is not None:
        parts.append(f"agent RSS {rss:.0f} MiB")
    if used is not None:
        parts.append(f"system {used:.0f}" + (f" / {total:.0f} MiB" if total else " MiB"))
    if parts:
        out["memory"] = "Memory — " + " · ".join(parts)
    temps = _latest_of(tel, P.THERMAL)
    if temps:
        out["temperature"] = f"Temperature — max {max(temps):.1f} °C" + panels[
            "temperature"].not_drawn(len(temps))
    freqs = _latest_of(tel, P.FREQ)
    if freqs:
        out["frequency"] = (f"CPU frequency — {min(freqs):.0f}–{max(freqs):.0f} MHz"
                            if min(freqs) != max(freqs) else
                            f"CPU frequency — {freqs[0]:.0f} MHz") + panels[
            "frequency"].not_drawn(len(freqs))
    return out


def _latest_of(tel: TelemetryHistory, group: str) -> list[float]:
    return [v for v in (tel.latest(n) for n in tel.names(series_prefix(group)))
            if v is not None]


def placeholders(tel: TelemetryHistory, frames_last_t: float | None, final: bool,
                 outcome: str = "") -> dict[str, str]:
    """What each telemetry plot says instead of data ('' when it draws data); a run that
    ended before any sample says how it ended (``outcome``), not "waiting"."""
    samples = tel.samples
    out = {}
    for key, _title, _unit, needs, no_data in TELEMETRY_PLOTS:
        if any(tel.has(n) for n in needs):
            text = ""
        elif samples >= 2 or (final and samples):
            text = no_data
        elif final and outcome:
            text = f"no telemetry received: {outcome}"
        elif final or (frames_last_t is not None and frames_last_t > NO_TELEMETRY_AFTER_S
                       and not samples):
            text = "no telemetry from this device"
        else:
            text = "waiting for data…"
        out[key] = text
    return out


def readout(tel: TelemetryHistory, x: float) -> list[str]:
    """The telemetry values at time ``x`` for the pause/inspect readout."""
    parts = []
    for name, label, unit in ((P.CPU_SYS, "cpu", "%"), (P.RSS, "rss", " MiB")):
        v = tel.value_at(name, x)
        if v is not None:
            parts.append(f"{label} {v:.0f}{unit}")
    prefix = series_prefix(P.THERMAL)
    for name in tel.names(prefix)[:2]:
        v = tel.value_at(name, x)
        if v is not None:
            parts.append(f"{name[len(prefix):]} {v:.1f} °C")
    return parts
