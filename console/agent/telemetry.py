"""Device telemetry for the agent: CPU, memory, temperatures, clocks, throttling, power.

What lives here: :class:`TelemetrySampler`, which reads Linux ``/proc`` and ``/sys``
files and turns them into one flat-ish dict per call, and :class:`TelemetryThread`,
which calls it on a fixed period in its own thread, off the inference path, and
hands every sample to a callback (the agent wraps it in a ``telemetry`` message,
see ``console.core.protocol``).

What must not live here: anything beyond the Python standard library. This file is
copied to edge devices (x86 gateways, Raspberry Pi, Jetson) that may have nothing
but a system Python 3.8, so no psutil, no numpy, no imports from the rest of the
console, and Python 3.8 syntax only.

The rule: **what the device does not have is absent, never 0 or invented.** A key
is left out of a sample when the platform does not expose the figure, when the
file could not be read or parsed this time (sysfs returns EINVAL, EIO, ENODATA on
real boards), and for rate figures on the very first call, which need a previous
sample. A 0 in a sample is a reading of 0.

Sample keys and units (see :meth:`TelemetrySampler.sample`):

=================  =========================================================
``cpu_sys``        system CPU busy, % of all cores, since the previous sample
``cpu_agent``      the agent process, % of ONE core (like ``top``; may exceed
                   100 on multi-core), since the previous sample
``rss_mb``         the agent's resident memory, MiB
``mem_total_mb``   ``MemTotal``, MiB
``mem_used_mb``    ``MemTotal - MemAvailable``, MiB
``mem_avail_mb``   ``MemAvailable``, MiB
``thermal``        {thermal zone type: °C}; duplicate types get ``.1``, ``.2``
``freq_mhz``       {"cpu0": current MHz, ...}
``throttle``       throttle indicators, see :meth:`TelemetrySampler.sample`
``power_w``        {source: W}
``energy_j``       {source: J since the sampler was created}
=================  =========================================================

Formats follow the kernel's sysfs ABI documents (thermal, cpufreq, powercap,
hwmon, power_supply), ``Documentation/hwmon/ina3221.rst`` for the Jetson power
monitors and the Raspberry Pi firmware driver's ``get_throttled`` attribute.
"""

# The agent must import on a device's Python 3.8, where typing.get_type_hints() cannot
# evaluate ``dict[str, Any]`` or ``X | None``; keep typing.Dict/List/Optional here.

from __future__ import annotations

import copy
import os
import re
import threading
import time
from typing import Any, Callable, Dict, List, Optional, Tuple

from console.agent.power import PowerRails
from console.agent.sysfs import (
    clk_tck,
    first_line,
    natural_glob,
    natural_key,
    parse_int,
    read_or_error,
    read_small,
    unique_key,
)

#: Readings below absolute zero are drivers' "no data" sentinels (e.g. -32768000).
_MIN_MILLI_C = -273150

#: Raspberry Pi firmware ``get_throttled`` bits (documented with ``vcgencmd``).
_RPI_THROTTLE_BITS = (
    (0, "under_voltage"),
    (1, "arm_freq_capped"),
    (2, "throttled"),
    (3, "soft_temp_limit"),
    (16, "under_voltage_occurred"),
    (17, "arm_freq_capped_occurred"),
    (18, "throttled_occurred"),
    (19, "soft_temp_limit_occurred"),
)

_THROTTLE_COUNTERS = ("core_throttle_count", "package_throttle_count")


class _ThrottleCounter:
    __slots__ = ("base", "name", "path")

    def __init__(self, name: str, path: str, base: Optional[int]):
        self.name = name
        self.path = path
        self.base = base


class _Policy:
    """One cpufreq policy: the CPUs sharing a clock, read once for all of them."""

    __slots__ = ("cpuinfo_max_khz", "cpus", "cur_path", "scaling_max_path")

    def __init__(self, directory: str, cpus: List[str], cpuinfo_max_khz: Optional[int]):
        self.cur_path = os.path.join(directory, "scaling_cur_freq")
        self.scaling_max_path = os.path.join(directory, "scaling_max_freq")
        self.cpus = cpus
        self.cpuinfo_max_khz = cpuinfo_max_khz


class TelemetrySampler:
    """Reads /proc and /sys under ``root``; one :meth:`sample` per telemetry tick.

    Everything that does not change while the agent runs (which thermal zones,
    CPUs, power rails exist, their names, trip points, maximum clocks) is found
    once here, so a sample opens and reads each figure's file once and never globs.

    ``root`` is the filesystem root to read ``proc/`` and ``sys/`` from (tests point
    it at a recorded tree); ``pid`` is the process to measure, by default this one.
    Not thread-safe: one sampler belongs to one thread.
    """

    def __init__(self, root: str = "/", pid: Optional[int] = None) -> None:
        self.root = root
        self.pid = os.getpid() if pid is None else pid
        #: Last exception per section of :meth:`sample` (a bug, not a missing file).
        self.errors: Dict[str, str] = {}
        self._clk_tck = clk_tck()
        self._stat_path = self._path("proc", "stat")
        self._pid_stat_path = self._path("proc", str(self.pid), "stat")
        self._pid_status_path = self._path("proc", str(self.pid), "status")
        self._meminfo_path = self._path("proc", "meminfo")
        self._facts: Dict[str, Any] = {}
        self._unreadable: Dict[str, str] = {}

        self._prev_cpu: Optional[Tuple[int, int]] = None
        self._prev_agent: Optional[Tuple[int, float]] = None

        self._count_cpus()
        self._thermal = self._find_thermal()
        cpus = [
            d
            for d in natural_glob(self._path("sys", "devices", "system", "cpu", "cpu[0-9]*"))
            if re.match(r"cpu\d+$", os.path.basename(d))
        ]
        self._policies = self._find_cpufreq(cpus)
        self._throttle_counters = self._find_throttle_counters(cpus)
        rpi = self._path("sys", "devices", "platform", "soc", "soc:firmware", "get_throttled")
        self._rpi_throttled: Optional[str] = rpi if os.path.isfile(rpi) else None
        self._power = PowerRails(self._path, self._probe)

        throttle_sources = sorted({"thermal_throttle:" + c.name for c in self._throttle_counters})
        if self._rpi_throttled:
            throttle_sources.append("rpi:get_throttled")
        if any(p.cpuinfo_max_khz for p in self._policies):
            throttle_sources.append("cpufreq:scaling_max_freq")
        if throttle_sources:
            self._facts["throttle_sources"] = throttle_sources
        sources = self._power.sources()
        if sources:
            self._facts["power_sources"] = sources
        if self._unreadable:
            self._facts["unreadable"] = dict(self._unreadable)

        self._sections: List[Tuple[str, Callable[[Dict[str, Any], float], None]]] = [
            ("cpu", self._sample_cpu),
            ("agent", self._sample_agent),
            ("memory", self._sample_memory),
            ("thermal", self._sample_thermal),
            ("freq", self._sample_freq),
            ("throttle", self._sample_throttle),
            ("power", self._power.sample),
        ]

    # -- public ------------------------------------------------------------------

    def static_facts(self) -> Dict[str, Any]:
        """What this device has, once per run.

        Keys: ``cpu_count``; ``thermal_zones`` [{zone, name (the key used in
        ``sample()["thermal"]``), trips [{type, c}]}] (trips at or below 0 °C are
        how drivers say "not set" and are left out); ``cpu_max_mhz`` {cpu: MHz};
        ``power_sources`` [key of ``power_w``]; ``throttle_sources`` [str];
        ``unreadable`` {path: why} for sources found but not readable by this user
        (RAPL energy is root-only on kernels patched for CVE-2020-8694).
        A key is left out when the device has none of that kind.
        """
        return copy.deepcopy(self._facts)

    def sample(self, now: Optional[float] = None) -> Dict[str, Any]:
        """One reading of everything the device exposes; never raises.

        ``now`` is a monotonic timestamp in seconds (default ``time.monotonic()``),
        used for the rates; pass it when the caller already has one.

        ``throttle`` holds what the platform exposes: ``core_throttle_count`` and
        ``package_throttle_count`` (x86 thermal_throttle events since the sampler was
        created, on the most-throttled core / package); the Raspberry Pi firmware
        flags ``under_voltage``, ``arm_freq_capped``, ``throttled``,
        ``soft_temp_limit`` (now) and the same with ``_occurred`` (since boot) plus
        the raw ``get_throttled`` value; ``freq_capped``: some CPU's
        ``scaling_max_freq`` is below its ``cpuinfo_max_freq``.

        ``power_w`` keys: ``rapl:<domain>`` and ``rapl:<domain>/<subdomain>`` (a
        subdomain's power is part of its parent's, do not add them up; RAPL needs a
        previous sample), ``hwmon:<chip>:<label>``, ``power_supply:<name>`` (the
        magnitude: drivers disagree on the sign). ``energy_j`` integrates them:
        RAPL exactly from its counters since the sampler was created, the others
        from their readings (trapezoids) from the first sample on.
        """
        t = time.monotonic() if now is None else float(now)
        out: Dict[str, Any] = {}
        for name, section in self._sections:
            try:
                section(out, t)
            except Exception as exc:  # a parsing bug must not stop telemetry
                self.errors[name] = f"{exc.__class__.__name__}: {exc}"
        return out

    # -- discovery ---------------------------------------------------------------

    def _path(self, *parts: str) -> str:
        return os.path.join(self.root, *parts)

    def _count_cpus(self) -> None:
        text = read_small(self._stat_path)
        if text:
            n = sum(1 for line in text.split("\n") if re.match(r"cpu\d+ ", line))
            if n:
                self._facts["cpu_count"] = n

    def _find_thermal(self) -> List[Tuple[str, str]]:
        found: List[Tuple[str, str]] = []
        zones: List[Dict[str, Any]] = []
        taken: Dict[str, int] = {}
        for zdir in natural_glob(self._path("sys", "class", "thermal", "thermal_zone*")):
            temp = os.path.join(zdir, "temp")
            if not os.path.isfile(temp):
                continue
            zone = os.path.basename(zdir)
            name = unique_key(first_line(os.path.join(zdir, "type")) or zone, taken)
            trips = []
            for tpath in natural_glob(os.path.join(zdir, "trip_point_*_type")):
                m = re.search(r"trip_point_(\d+)_type$", tpath)
                ttype = first_line(tpath)
                tfile = os.path.join(zdir, f"trip_point_{m.group(1)}_temp") if m else ""
                milli = parse_int(read_small(tfile)) if tfile else None
                if ttype and milli is not None and milli > 0:
                    trips.append({"type": ttype, "c": milli / 1000.0})
            zones.append({"zone": zone, "name": name, "trips": trips})
            found.append((name, temp))
        if zones:
            self._facts["thermal_zones"] = zones
        return found

    def _find_cpufreq(self, cpus: List[str]) -> List[_Policy]:
        by_policy: Dict[str, List[str]] = {}
        dirs: Dict[str, str] = {}
        max_mhz: Dict[str, float] = {}
        for cdir in cpus:
            fdir = os.path.join(cdir, "cpufreq")
            if not os.path.isfile(os.path.join(fdir, "scaling_cur_freq")):
                continue
            cpu = os.path.basename(cdir)
            real = os.path.realpath(fdir)  # cpuN/cpufreq -> ../cpufreq/policyM when shared
            by_policy.setdefault(real, []).append(cpu)
            dirs.setdefault(real, fdir)
            khz = parse_int(read_small(os.path.join(fdir, "cpuinfo_max_freq")))
            if khz is not None and khz > 0:
                max_mhz[cpu] = khz / 1000.0
        policies = []
        for real, members in by_policy.items():
            khz = parse_int(read_small(os.path.join(dirs[real], "cpuinfo_max_freq")))
            policies.append(_Policy(dirs[real], members, khz if khz and khz > 0 else None))
        if max_mhz:
            self._facts["cpu_max_mhz"] = max_mhz
        return policies

    def _find_throttle_counters(self, cpus: List[str]) -> List[_ThrottleCounter]:
        """x86 thermal_throttle counters, one file per physical core / package.

        Every CPU repeats its package's count and SMT siblings share a core count,
        so topology is used to read each counter once.
        """
        counters: List[_ThrottleCounter] = []
        seen: Dict[str, set] = {name: set() for name in _THROTTLE_COUNTERS}
        for cdir in cpus:
            tdir = os.path.join(cdir, "thermal_throttle")
            if not os.path.isdir(tdir):
                continue
            pkg = first_line(os.path.join(cdir, "topology", "physical_package_id"))
            core = first_line(os.path.join(cdir, "topology", "core_id"))
            for name in _THROTTLE_COUNTERS:
                path = os.path.join(tdir, name)
                if not os.path.isfile(path):
                    continue
                ident: Any = cdir  # without topology, every CPU counts on its own
                if pkg and name.startswith("package"):
                    ident = pkg
                elif pkg and core:
                    ident = (pkg, core)
                if ident in seen[name]:
                    continue
                seen[name].add(ident)
                counters.append(_ThrottleCounter(name, path, parse_int(read_small(path))))
        return counters

    def _probe(self, path: str) -> bool:
        """False (and noted in static facts) when this user may not read ``path``."""
        _text, err = read_or_error(path)
        if isinstance(err, PermissionError):
            self._unreadable[path] = "permission denied"
            return False
        return True

    # -- sampling ----------------------------------------------------------------

    def _sample_cpu(self, out: Dict[str, Any], t: float) -> None:
        text = read_small(self._stat_path)
        if not text:
            return
        fields = text.split("\n", 1)[0].split()
        if len(fields) < 5 or fields[0] != "cpu":
            return
        # user nice system idle iowait irq softirq steal; guest time is already in user/nice.
        try:
            values = [int(v) for v in fields[1:9]]
        except ValueError:
            return
        total = sum(values)
        busy = total - values[3] - (values[4] if len(values) > 4 else 0)
        prev, self._prev_cpu = self._prev_cpu, (busy, total)
        if prev is not None and total > prev[1]:
            pct = 100.0 * (busy - prev[0]) / (total - prev[1])
            out["cpu_sys"] = min(100.0, max(0.0, pct))

    def _sample_agent(self, out: Dict[str, Any], t: float) -> None:
        text = read_small(self._pid_stat_path)
        if not text or self._clk_tck is None:
            return
        # comm (field 2) may hold spaces and ")", so count fields from the last ")".
        rest = text[text.rfind(")") + 1 :].split()
        try:
            ticks = int(rest[11]) + int(rest[12])  # utime + stime
        except (IndexError, ValueError):
            return
        prev, self._prev_agent = self._prev_agent, (ticks, t)
        if prev is not None and t > prev[1] and ticks >= prev[0]:
            out["cpu_agent"] = 100.0 * (ticks - prev[0]) / self._clk_tck / (t - prev[1])

    def _sample_memory(self, out: Dict[str, Any], t: float) -> None:
        text = read_small(self._pid_status_path)
        if text:
            m = re.search(r"^VmRSS:\s*(\d+) kB", text, re.MULTILINE)
            if m:
                out["rss_mb"] = int(m.group(1)) / 1024.0
        text = read_small(self._meminfo_path)
        if not text:
            return
        kb: Dict[str, int] = {}
        for line in text.split("\n"):
            fields = line.split()
            if len(fields) >= 2 and fields[0] in ("MemTotal:", "MemAvailable:"):
                try:
                    kb[fields[0]] = int(fields[1])
                except ValueError:
                    pass
                if len(kb) == 2:
                    break
        total = kb.get("MemTotal:")
        avail = kb.get("MemAvailable:")  # missing before Linux 3.14
        if total is not None:
            out["mem_total_mb"] = total / 1024.0
            if avail is not None:
                out["mem_used_mb"] = (total - avail) / 1024.0
        if avail is not None:
            out["mem_avail_mb"] = avail / 1024.0

    def _sample_thermal(self, out: Dict[str, Any], t: float) -> None:
        temps: Dict[str, float] = {}
        for name, path in self._thermal:
            milli = parse_int(read_small(path))
            if milli is not None and milli >= _MIN_MILLI_C:
                temps[name] = milli / 1000.0
        if temps:
            out["thermal"] = temps

    def _sample_freq(self, out: Dict[str, Any], t: float) -> None:
        mhz: Dict[str, float] = {}
        for policy in self._policies:
            khz = parse_int(read_small(policy.cur_path))
            if khz is not None and khz > 0:
                for cpu in policy.cpus:
                    mhz[cpu] = khz / 1000.0
        if mhz:
            out["freq_mhz"] = dict(sorted(mhz.items(), key=lambda kv: natural_key(kv[0])))

    def _sample_throttle(self, out: Dict[str, Any], t: float) -> None:
        flags: Dict[str, Any] = {}
        for counter in self._throttle_counters:
            value = parse_int(read_small(counter.path))
            if value is None:
                continue
            if counter.base is None:  # unreadable at start: count from the first reading
                counter.base = value
            elif value < counter.base:  # reset (the CPU went offline and back)
                counter.base = 0
            delta = value - counter.base
            flags[counter.name] = max(delta, flags.get(counter.name, 0))
        if self._rpi_throttled:
            text = read_small(self._rpi_throttled)
            try:
                bits = int(text.strip(), 16) if text else None
            except ValueError:
                bits = None
            if bits is not None:
                for bit, name in _RPI_THROTTLE_BITS:
                    flags[name] = bool(bits >> bit & 1)
                flags["get_throttled"] = bits
        capped: Optional[bool] = None
        for policy in self._policies:
            if policy.cpuinfo_max_khz is None:
                continue
            khz = parse_int(read_small(policy.scaling_max_path))
            if khz is not None and khz > 0:
                capped = bool(capped) or khz < policy.cpuinfo_max_khz
        if capped is not None:
            flags["freq_capped"] = capped
        if flags:
            out["throttle"] = flags

def _next_deadline(deadline: float, now: float, period: float) -> float:
    """The next tick on the ``deadline + k * period`` grid that is still ahead of ``now``.

    Sampling late never shifts the grid (no drift); ticks missed entirely while
    the device was stalled are skipped, not made up in a burst.
    """
    deadline += period
    if deadline <= now:
        deadline += (int((now - deadline) // period) + 1) * period
    return deadline


class TelemetryThread(threading.Thread):
    """Calls ``sampler.sample()`` every ``period_s`` and hands it to ``emit(ts_wall, sample)``.

    A daemon thread on a fixed deadline schedule. Each sample after the first also
    carries ``sampler_cpu``: the % of one core this thread used (sampling, emit,
    everything) since the previous sample, so a run reports what telemetry costs.
    An exception from ``emit`` (stdout closed, console gone) or the sampler ends
    the thread quietly; it is kept in :attr:`error`.
    """

    def __init__(
        self,
        sampler: TelemetrySampler,
        period_s: float,
        emit: Callable[[float, Dict[str, Any]], None],
    ) -> None:
        if not period_s > 0:
            raise ValueError(f"telemetry period must be > 0 s, got {period_s!r}")
        super().__init__(name="telemetry", daemon=True)
        self.sampler = sampler
        self.period_s = float(period_s)
        self.error: Optional[BaseException] = None
        self._emit = emit
        self._stop_event = threading.Event()

    def stop(self) -> None:
        """Ask the thread to end; ``join()`` then returns within one period."""
        self._stop_event.set()

    def run(self) -> None:
        period = self.period_s
        deadline = time.monotonic()
        prev: Optional[Tuple[float, float]] = None  # (thread cpu s, monotonic s)
        try:
            while not self._stop_event.is_set():
                now = time.monotonic()
                sample = self.sampler.sample(now)
                ts_wall = time.time()
                cpu, mono = time.thread_time(), time.monotonic()
                if prev is not None and mono > prev[1]:
                    sample["sampler_cpu"] = 100.0 * (cpu - prev[0]) / (mono - prev[1])
                prev = (cpu, mono)
                if self._stop_event.is_set():
                    break
                self._emit(ts_wall, sample)
                now = time.monotonic()
                deadline = _next_deadline(deadline, now, period)
                self._stop_event.wait(deadline - now)
        except Exception as exc:
            self.error = exc
