"""Power rails a device exposes — RAPL energy counters, hwmon power channels (the Jetson's
INA3221 among them), power_supply — found once, then read every telemetry tick.

Watts and joules only where the platform gives them: a rail that is absent or unreadable
for this user is left out (noted by the sampler's probe), never reported as 0. Standard
library only and Python 3.8 syntax: copied to the device with the agent.
"""

# The agent must import on a device's Python 3.8, where typing.get_type_hints() cannot
# evaluate ``dict[str, Any]`` or ``X | None``; keep typing.Dict/List/Optional here.

from __future__ import annotations

import os
import re
from typing import Any, Callable, Dict, List, Optional

from console.agent.sysfs import first_line, natural_glob, parse_int, read_small, unique_key


class _Counter:
    """An energy counter (RAPL ``energy_uj``), integrated exactly."""

    __slots__ = ("energy_j", "key", "last", "last_t", "max_range", "path")

    def __init__(self, key: str, path: str, max_range: Optional[int], first: Optional[int]):
        self.key = key
        self.path = path
        self.max_range = max_range
        self.last = first  # µJ at construction: energy_j counts from there
        self.last_t: Optional[float] = None  # power needs a reading taken by sample()
        self.energy_j: Optional[float] = None


class _Gauge:
    """An instantaneous power reading: ``a / per_watt`` or ``a * b / per_watt`` watts."""

    __slots__ = ("a", "absolute", "b", "energy_j", "key", "last_t", "last_w", "per_watt")

    def __init__(self, key: str, a: str, b: Optional[str], per_watt: float, absolute: bool = False):
        self.key = key
        self.a = a
        self.b = b
        self.per_watt = per_watt
        self.absolute = absolute
        self.last_w = 0.0
        self.last_t: Optional[float] = None
        self.energy_j: Optional[float] = None


class PowerRails:
    """The device's power sources. ``path`` joins parts under the sampler's root; ``probe``
    says whether this user may read a file (and records it when not)."""

    def __init__(self, path: Callable[..., str], probe: Callable[[str], bool]) -> None:
        self._path = path
        self._probe = probe
        self._counters: List[_Counter] = []
        self._gauges: List[_Gauge] = []
        self._power_keys: Dict[str, int] = {}
        self._find_rapl()
        self._find_hwmon()
        self._find_power_supply()

    def sources(self) -> List[str]:
        return [c.key for c in self._counters] + [g.key for g in self._gauges]

    def sample(self, out: Dict[str, Any], t: float) -> None:
        self._sample_power(out, t)

    def _add_key(self, key: str) -> str:
        return unique_key(key, self._power_keys)

    def _find_rapl(self) -> None:
        """Intel/AMD RAPL zones ``intel-rapl:N`` and their subzones ``intel-rapl:N:M``.

        ``intel-rapl-mmio:*`` is not read: it repeats ``package-0`` and would count
        the same energy twice.
        """
        names: Dict[str, str] = {}
        base = self._path("sys", "class", "powercap")
        for zdir in natural_glob(os.path.join(base, "intel-rapl:*")):
            parts = os.path.basename(zdir).split(":")[1:]
            if not 1 <= len(parts) <= 2 or not all(p.isdigit() for p in parts):
                continue
            name = first_line(os.path.join(zdir, "name"))
            if not name:
                continue
            if len(parts) == 1:
                names[parts[0]] = name
                key = "rapl:" + name
            else:
                parent = names.get(parts[0]) or first_line(
                    os.path.join(base, "intel-rapl:" + parts[0], "name")
                )
                if not parent or parent == name:
                    continue
                key = f"rapl:{parent}/{name}"
            if key in self._power_keys:  # the same domain twice: count it once
                continue
            energy = os.path.join(zdir, "energy_uj")
            if not os.path.isfile(energy) or not self._probe(energy):
                continue
            max_range = parse_int(read_small(os.path.join(zdir, "max_energy_range_uj")))
            self._counters.append(
                _Counter(
                    self._add_key(key),
                    energy,
                    max_range if max_range and max_range > 0 else None,
                    parse_int(read_small(energy)),
                )
            )

    def _find_hwmon(self) -> None:
        for hdir in natural_glob(self._path("sys", "class", "hwmon", "hwmon*")):
            chip = first_line(os.path.join(hdir, "name")) or os.path.basename(hdir)
            if chip == "ina3221":
                # in[123]_input bus mV, curr[123]_input mA; in4-7 are shunt voltages.
                for n in (1, 2, 3):
                    volts = os.path.join(hdir, f"in{n}_input")
                    amps = os.path.join(hdir, f"curr{n}_input")
                    if not (os.path.isfile(volts) and os.path.isfile(amps)):
                        continue
                    label = first_line(os.path.join(hdir, f"in{n}_label")) or f"in{n}"
                    enabled = parse_int(read_small(os.path.join(hdir, f"in{n}_enable")))
                    if label.upper() == "NC" or enabled == 0:
                        continue  # not connected / disabled: reads fail with ENODATA
                    if self._probe(volts) and self._probe(amps):
                        key = self._add_key(f"hwmon:{chip}:{label}")
                        self._gauges.append(_Gauge(key, volts, amps, 1e6))
                continue
            channels: Dict[int, str] = {}
            for path in natural_glob(os.path.join(hdir, "power[0-9]*_*")):
                m = re.search(r"power(\d+)_(input|average)$", path)
                if m and (m.group(2) == "input" or int(m.group(1)) not in channels):
                    channels[int(m.group(1))] = path
            for n, path in sorted(channels.items()):
                label = first_line(os.path.join(hdir, f"power{n}_label")) or f"power{n}"
                if self._probe(path):
                    key = self._add_key(f"hwmon:{chip}:{label}")
                    self._gauges.append(_Gauge(key, path, None, 1e6))

    def _find_power_supply(self) -> None:
        for sdir in natural_glob(self._path("sys", "class", "power_supply", "*")):
            key = "power_supply:" + os.path.basename(sdir)
            power = os.path.join(sdir, "power_now")
            volts = os.path.join(sdir, "voltage_now")
            amps = os.path.join(sdir, "current_now")
            if os.path.isfile(power):
                if self._probe(power):
                    self._gauges.append(_Gauge(self._add_key(key), power, None, 1e6, True))
            elif (
                os.path.isfile(volts)
                and os.path.isfile(amps)
                and self._probe(volts)
                and self._probe(amps)
            ):
                self._gauges.append(_Gauge(self._add_key(key), volts, amps, 1e12, True))

    def _sample_power(self, out: Dict[str, Any], t: float) -> None:
        watts: Dict[str, float] = {}
        joules: Dict[str, float] = {}
        for c in self._counters:
            value = parse_int(read_small(c.path))
            if value is None or value < 0:
                continue
            if c.last is not None:
                delta: Optional[int] = value - c.last
                if delta is not None and delta < 0:  # the counter wrapped
                    delta = delta + c.max_range if c.max_range and c.max_range > c.last else None
                if delta is not None:
                    c.energy_j = (c.energy_j or 0.0) + delta / 1e6
                    if c.last_t is not None and t > c.last_t:
                        watts[c.key] = delta / 1e6 / (t - c.last_t)
            c.last, c.last_t = value, t
            if c.energy_j is not None:
                joules[c.key] = c.energy_j
        for g in self._gauges:
            a = parse_int(read_small(g.a))
            if a is None:
                continue
            if g.b is None:
                w = a / g.per_watt
            else:
                b = parse_int(read_small(g.b))
                if b is None:
                    continue
                w = a * b / g.per_watt
            if g.absolute:
                w = abs(w)
            watts[g.key] = w
            if g.last_t is not None and t > g.last_t:
                g.energy_j = (g.energy_j or 0.0) + (g.last_w + w) / 2.0 * (t - g.last_t)
            g.last_w, g.last_t = w, t
            if g.energy_j is not None:
                joules[g.key] = g.energy_j
        if watts:
            out["power_w"] = watts
        if joules:
            out["energy_j"] = joules
