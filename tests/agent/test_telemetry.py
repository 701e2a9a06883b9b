"""TelemetrySampler against recorded /proc + /sys trees, and TelemetryThread timing.

The trees in tests/data/sysfs/ are reconstructed fixtures (see their README); rate
figures are checked by copying a tree, sampling, rewriting counters with later
values and sampling again. Expected numbers are computed by hand from the files.
"""

from __future__ import annotations

import ast
import errno
import itertools
import json
import os
import shutil
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from console.agent import telemetry
from console.agent.telemetry import TelemetrySampler, TelemetryThread, _next_deadline

DATA = Path(__file__).resolve().parent.parent / "data" / "sysfs"
PID = 4242
RAPL_RANGE = 262143328850
SENSOR_KEYS = ("thermal", "freq_mhz", "throttle", "power_w", "energy_j")


# -- helpers ---------------------------------------------------------------------


def tree(name: str, tmp_path: Path) -> Path:
    """A private, writable copy of a recorded tree (cpufreq symlinks kept)."""
    dst = tmp_path / name
    shutil.copytree(DATA / name, dst, symlinks=True)
    return dst


def put(root: Path, rel: str, text: str) -> None:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + "\n" if text else "")


def bump_proc_stat(root: Path, **deltas: int) -> None:
    """Advance the aggregate ``cpu`` line of proc/stat by the given tick deltas."""
    order = ["user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal"]
    path = root / "proc" / "stat"
    lines = path.read_text().split("\n")
    fields = lines[0].split()
    values = [int(v) for v in fields[1:]]
    for name, delta in deltas.items():
        values[order.index(name)] += delta
    lines[0] = "cpu  " + " ".join(str(v) for v in values)
    path.write_text("\n".join(lines))


def bump_pid_ticks(root: Path, utime: int, stime: int) -> None:
    path = root / "proc" / str(PID) / "stat"
    text = path.read_text()
    head, _, tail = text.rpartition(")")
    rest = tail.split()
    rest[11] = str(int(rest[11]) + utime)
    rest[12] = str(int(rest[12]) + stime)
    path.write_text(head + ") " + " ".join(rest) + "\n")


def read_int(root: Path, rel: str) -> int:
    return int((root / rel).read_text())


@pytest.fixture
def fail_reads(monkeypatch: pytest.MonkeyPatch):
    """Make read() of chosen files fail with an errno, as sysfs does on real boards.

    sysfs reports EINVAL/EIO/ENODATA from read(), after a successful open(), so the
    fake wraps os.read and looks up which file the descriptor belongs to.
    """
    failures: dict[str, int] = {}
    real_read = os.read

    def fake_read(fd: int, n: int) -> bytes:
        if failures:
            try:
                target = os.readlink(f"/proc/self/fd/{fd}")
            except OSError:
                target = ""
            if target in failures:
                err = failures[target]
                raise OSError(err, os.strerror(err), target)
        return real_read(fd, n)

    monkeypatch.setattr(os, "read", fake_read)

    def add(path: Path, err: int) -> None:
        failures[os.path.realpath(path)] = err

    return add


# -- static facts ----------------------------------------------------------------


def test_x86_static_facts(tmp_path: Path) -> None:
    facts = TelemetrySampler(str(tree("x86-rapl", tmp_path)), pid=PID).static_facts()
    assert facts["cpu_count"] == 4
    assert facts["thermal_zones"] == [
        {
            "zone": "thermal_zone0",
            "name": "acpitz",
            "trips": [
                {"type": "critical", "c": 97.0},
                {"type": "active", "c": 86.0},
                {"type": "active", "c": 55.0},
            ],
        },
        {"zone": "thermal_zone1", "name": "acpitz.1", "trips": [{"type": "critical", "c": 105.0}]},
        # trip_point_1 at 0 ("not set") is left out; INT3400 has no temp file
        {
            "zone": "thermal_zone3",
            "name": "x86_pkg_temp",
            "trips": [{"type": "passive", "c": 95.0}],
        },
        # a -32768000 trip is a driver's "no data", not a trip at -32768 °C
        {"zone": "thermal_zone4", "name": "iwlwifi_1", "trips": []},
    ]
    assert facts["cpu_max_mhz"] == {f"cpu{i}": 3100.0 for i in range(4)}
    # intel-rapl-mmio:0 repeats package-0 and must not be counted twice
    assert facts["power_sources"] == [
        "rapl:package-0",
        "rapl:package-0/core",
        "rapl:package-0/uncore",
        "rapl:package-0/dram",
        "rapl:psys",
        "power_supply:BAT0",
    ]
    assert facts["throttle_sources"] == [
        "thermal_throttle:core_throttle_count",
        "thermal_throttle:package_throttle_count",
        "cpufreq:scaling_max_freq",
    ]
    assert "unreadable" not in facts


def test_static_facts_of_the_other_platforms(tmp_path: Path) -> None:
    jetson = TelemetrySampler(str(tree("jetson-orin", tmp_path)), pid=PID).static_facts()
    assert [z["name"] for z in jetson["thermal_zones"]] == [
        "cpu-thermal",
        "gpu-thermal",
        "cv0-thermal",
        "cv1-thermal",
        "cv2-thermal",
        "soc0-thermal",
        "soc1-thermal",
        "soc2-thermal",
        "tj-thermal",
    ]
    assert jetson["power_sources"] == [
        "hwmon:ina3221:VDD_IN",
        "hwmon:ina3221:VDD_CPU_GPU_CV",
        "hwmon:ina3221:VDD_SOC",
    ]
    assert jetson["throttle_sources"] == ["cpufreq:scaling_max_freq"]

    pi = TelemetrySampler(str(tree("raspberrypi-4", tmp_path)), pid=PID).static_facts()
    assert pi["thermal_zones"] == [
        {
            "zone": "thermal_zone0",
            "name": "cpu-thermal",
            "trips": [{"type": "critical", "c": 110.0}],
        }
    ]
    assert pi["throttle_sources"] == ["rpi:get_throttled", "cpufreq:scaling_max_freq"]
    assert "power_sources" not in pi

    vm = TelemetrySampler(str(tree("vm-no-sensors", tmp_path)), pid=PID).static_facts()
    assert vm == {"cpu_count": 2}


def test_static_facts_is_a_copy(tmp_path: Path) -> None:
    sampler = TelemetrySampler(str(tree("x86-rapl", tmp_path)), pid=PID)
    sampler.static_facts()["thermal_zones"].clear()
    assert len(sampler.static_facts()["thermal_zones"]) == 4


# -- exact values from one snapshot ----------------------------------------------


def test_x86_first_sample_exact_values(tmp_path: Path) -> None:
    s = TelemetrySampler(str(tree("x86-rapl", tmp_path)), pid=PID).sample(now=10.0)
    assert s["thermal"] == {
        "acpitz": 47.0,
        "acpitz.1": 29.8,
        "x86_pkg_temp": 52.0,
        "iwlwifi_1": 41.0,
    }
    assert s["freq_mhz"] == {"cpu0": 2700.123, "cpu1": 1800.021, "cpu2": 2699.87, "cpu3": 799.992}
    assert s["rss_mb"] == 126420 / 1024
    assert s["mem_total_mb"] == 16081456 / 1024
    assert s["mem_avail_mb"] == 10876544 / 1024
    assert s["mem_used_mb"] == (16081456 - 10876544) / 1024
    assert s["throttle"] == {
        "core_throttle_count": 0,
        "package_throttle_count": 0,
        "freq_capped": False,
    }
    # rates need a previous sample; the battery gauge is an instantaneous reading
    for key in ("cpu_sys", "cpu_agent"):
        assert key not in s
    assert s["power_w"] == {"power_supply:BAT0": 8.213}
    # RAPL energy counts from construction: nothing moved since
    assert s["energy_j"] == {
        "rapl:package-0": 0.0,
        "rapl:package-0/core": 0.0,
        "rapl:package-0/uncore": 0.0,
        "rapl:package-0/dram": 0.0,
        "rapl:psys": 0.0,
    }


def test_jetson_ina3221_watts_are_volts_times_amps(tmp_path: Path) -> None:
    s = TelemetrySampler(str(tree("jetson-orin", tmp_path)), pid=PID).sample(now=1.0)
    assert s["power_w"] == {
        "hwmon:ina3221:VDD_IN": pytest.approx(5.072 * 1.232, rel=1e-12),
        "hwmon:ina3221:VDD_CPU_GPU_CV": pytest.approx(5.064 * 0.352, rel=1e-12),
        "hwmon:ina3221:VDD_SOC": pytest.approx(5.064 * 0.672, rel=1e-12),
    }
    assert "energy_j" not in s  # integrated from the first reading on
    # one shared policy read serves all its CPUs
    assert s["freq_mhz"] == {
        "cpu0": 1510.4,
        "cpu1": 1510.4,
        "cpu2": 1510.4,
        "cpu3": 1510.4,
        "cpu4": 729.6,
        "cpu5": 729.6,
    }
    assert s["thermal"]["cpu-thermal"] == 48.593
    assert s["throttle"] == {"freq_capped": False}
    assert s["mem_total_mb"] == 7620328 / 1024


def test_raspberry_pi_get_throttled_is_decoded(tmp_path: Path) -> None:
    root = tree("raspberrypi-4", tmp_path)
    sampler = TelemetrySampler(str(root), pid=PID)
    s = sampler.sample(now=1.0)
    assert s["throttle"] == {
        "under_voltage": True,
        "arm_freq_capped": False,
        "throttled": True,
        "soft_temp_limit": False,
        "under_voltage_occurred": True,
        "arm_freq_capped_occurred": False,
        "throttled_occurred": True,
        "soft_temp_limit_occurred": False,
        "get_throttled": 0x50005,
        "freq_capped": False,
    }
    assert s["thermal"] == {"cpu-thermal": 61.835}
    assert s["freq_mhz"] == {f"cpu{i}": 600.0 for i in range(4)}
    assert "power_w" not in s and "energy_j" not in s  # a Pi 4 has no power monitor

    put(root, "sys/devices/platform/soc/soc:firmware/get_throttled", "0x80008")
    t = sampler.sample(now=2.0)["throttle"]
    assert t["soft_temp_limit"] and t["soft_temp_limit_occurred"]
    assert not t["under_voltage"] and not t["throttled"]


def test_vm_tree_has_no_sensor_keys_at_all(tmp_path: Path) -> None:
    root = tree("vm-no-sensors", tmp_path)
    sampler = TelemetrySampler(str(root), pid=PID)
    first = sampler.sample(now=1.0)
    bump_proc_stat(root, user=30, idle=70)
    bump_pid_ticks(root, utime=5, stime=0)
    second = sampler.sample(now=2.0)
    for s in (first, second):
        for key in SENSOR_KEYS:
            assert key not in s, f"{key} reported on a machine without sensors: {s.get(key)}"
    assert second["cpu_sys"] == 30.0
    assert second["cpu_agent"] == pytest.approx(100.0 * 5 / os.sysconf("SC_CLK_TCK"))
    assert second["mem_total_mb"] == 8141240 / 1024
    assert second["rss_mb"] == 80528 / 1024


# -- rates from two snapshots ----------------------------------------------------


def test_cpu_percentages_from_two_snapshots(tmp_path: Path) -> None:
    root = tree("x86-rapl", tmp_path)
    sampler = TelemetrySampler(str(root), pid=PID)
    sampler.sample(now=100.0)
    # 1000 ticks pass on all cores: 400 busy (user+system+softirq), 550 idle, 50 iowait
    bump_proc_stat(root, user=300, system=90, softirq=10, idle=550, iowait=50)
    clk = os.sysconf("SC_CLK_TCK")
    bump_pid_ticks(root, utime=clk // 5, stime=clk // 20)  # 0.25 s of CPU in 0.5 s
    s = sampler.sample(now=100.5)
    assert s["cpu_sys"] == 40.0
    assert s["cpu_agent"] == pytest.approx(50.0)


def test_cpu_agent_is_per_core_and_may_exceed_100(tmp_path: Path) -> None:
    root = tree("x86-rapl", tmp_path)
    sampler = TelemetrySampler(str(root), pid=PID)
    sampler.sample(now=0.0)
    clk = os.sysconf("SC_CLK_TCK")
    bump_pid_ticks(root, utime=3 * clk, stime=clk // 2)  # 3.5 s of CPU in 1 s: 3.5 cores
    assert sampler.sample(now=1.0)["cpu_agent"] == pytest.approx(350.0)


def test_process_name_with_spaces_and_parentheses(tmp_path: Path) -> None:
    root = tree("x86-rapl", tmp_path)
    path = root / "proc" / str(PID) / "stat"
    path.write_text(path.read_text().replace("(python3)", "(my (agent) 2)"))
    sampler = TelemetrySampler(str(root), pid=PID)
    sampler.sample(now=0.0)
    bump_pid_ticks(root, utime=os.sysconf("SC_CLK_TCK"), stime=0)
    assert sampler.sample(now=2.0)["cpu_agent"] == pytest.approx(50.0)


def test_rapl_watts_and_joules_across_a_wrap(tmp_path: Path) -> None:
    root = tree("x86-rapl", tmp_path)
    pkg = "sys/class/powercap/intel-rapl:0/energy_uj"
    core = "sys/class/powercap/intel-rapl:0:0/energy_uj"
    put(root, pkg, str(RAPL_RANGE - 2_000_000))  # 2 J before the counter wraps
    sampler = TelemetrySampler(str(root), pid=PID)
    first = sampler.sample(now=50.0)
    assert "rapl:package-0" not in first["power_w"]

    put(root, pkg, "3000000")  # wrapped: 2 J + 3 J = 5 J
    put(root, core, str(read_int(root, core) + 1_250_000))
    s = sampler.sample(now=50.5)
    assert s["power_w"]["rapl:package-0"] == 10.0  # 5 J over 0.5 s
    assert s["power_w"]["rapl:package-0/core"] == 2.5
    assert s["power_w"]["rapl:package-0/uncore"] == 0.0
    assert s["energy_j"]["rapl:package-0"] == 5.0
    assert s["energy_j"]["rapl:package-0/core"] == 1.25

    put(root, pkg, "4000000")
    s = sampler.sample(now=51.0)
    assert s["power_w"]["rapl:package-0"] == 2.0
    assert s["energy_j"]["rapl:package-0"] == 6.0


def test_rapl_energy_counts_from_construction(tmp_path: Path) -> None:
    root = tree("x86-rapl", tmp_path)
    pkg = "sys/class/powercap/intel-rapl:0/energy_uj"
    start = read_int(root, pkg)
    sampler = TelemetrySampler(str(root), pid=PID)
    put(root, pkg, str(start + 1_500_000))
    s = sampler.sample(now=7.0)
    assert s["energy_j"]["rapl:package-0"] == 1.5
    assert "rapl:package-0" not in s["power_w"]


def test_rapl_wrap_without_a_known_range_drops_that_interval(tmp_path: Path) -> None:
    root = tree("x86-rapl", tmp_path)
    (root / "sys/class/powercap/intel-rapl:0/max_energy_range_uj").unlink()
    pkg = "sys/class/powercap/intel-rapl:0/energy_uj"
    sampler = TelemetrySampler(str(root), pid=PID)
    sampler.sample(now=0.0)
    put(root, pkg, "1000000")  # went down, and we cannot know by how much it wrapped
    s = sampler.sample(now=1.0)
    assert "rapl:package-0" not in s["power_w"]
    assert s["energy_j"]["rapl:package-0"] == 0.0
    put(root, pkg, "4000000")
    s = sampler.sample(now=2.0)
    assert s["power_w"]["rapl:package-0"] == 3.0
    assert s["energy_j"]["rapl:package-0"] == 3.0


def test_ina3221_energy_is_integrated_between_readings(tmp_path: Path) -> None:
    root = tree("jetson-orin", tmp_path)
    sampler = TelemetrySampler(str(root), pid=PID)
    sampler.sample(now=10.0)
    put(root, "sys/class/hwmon/hwmon1/curr1_input", "2464")  # VDD_IN current doubles
    s = sampler.sample(now=10.5)
    w0, w1 = 5.072 * 1.232, 5.072 * 2.464
    assert s["power_w"]["hwmon:ina3221:VDD_IN"] == pytest.approx(w1, rel=1e-12)
    assert s["energy_j"]["hwmon:ina3221:VDD_IN"] == pytest.approx((w0 + w1) / 2 * 0.5, rel=1e-12)
    assert s["energy_j"]["hwmon:ina3221:VDD_SOC"] == pytest.approx(5.064 * 0.672 * 0.5, rel=1e-12)


def test_ina3221_not_connected_and_disabled_channels_are_skipped(tmp_path: Path) -> None:
    root = tree("jetson-orin", tmp_path)
    put(root, "sys/class/hwmon/hwmon1/in2_label", "NC")
    put(root, "sys/class/hwmon/hwmon1/in3_enable", "0")
    sampler = TelemetrySampler(str(root), pid=PID)
    assert sampler.static_facts()["power_sources"] == ["hwmon:ina3221:VDD_IN"]
    assert list(sampler.sample(now=1.0)["power_w"]) == ["hwmon:ina3221:VDD_IN"]


def test_generic_hwmon_power_and_duplicate_chip_names(tmp_path: Path) -> None:
    root = tree("vm-no-sensors", tmp_path)
    put(root, "sys/class/hwmon/hwmon0/name", "ina238")
    put(root, "sys/class/hwmon/hwmon0/power1_input", "61234000")  # µW, no label
    put(root, "sys/class/hwmon/hwmon1/name", "amdgpu")
    put(root, "sys/class/hwmon/hwmon1/power1_average", "15000000")
    put(root, "sys/class/hwmon/hwmon1/power1_label", "PPT")
    put(root, "sys/class/hwmon/hwmon2/name", "ina238")
    put(root, "sys/class/hwmon/hwmon2/power1_input", "1000000")
    s = TelemetrySampler(str(root), pid=PID).sample(now=1.0)
    assert s["power_w"] == {
        "hwmon:ina238:power1": 61.234,
        "hwmon:amdgpu:PPT": 15.0,
        "hwmon:ina238:power1.1": 1.0,
    }


def test_power_supply_volts_times_amps_uses_the_magnitude(tmp_path: Path) -> None:
    root = tree("x86-rapl", tmp_path)
    (root / "sys/class/power_supply/BAT0/power_now").unlink()
    put(root, "sys/class/power_supply/BAT0/voltage_now", "11400000")
    put(root, "sys/class/power_supply/BAT0/current_now", "-750000")  # discharging, per the ABI
    s = TelemetrySampler(str(root), pid=PID).sample(now=1.0)
    assert s["power_w"]["power_supply:BAT0"] == pytest.approx(8.55, rel=1e-12)


def test_throttle_counts_are_deltas_since_start(tmp_path: Path) -> None:
    root = tree("x86-rapl", tmp_path)
    sampler = TelemetrySampler(str(root), pid=PID)
    cpu = "sys/devices/system/cpu/cpu{}/thermal_throttle/{}"
    for i in (0, 2):  # SMT siblings share core 0's counter: 12 -> 15
        put(root, cpu.format(i, "core_throttle_count"), "15")
    for i in (1, 3):  # core 1: 3 -> 4
        put(root, cpu.format(i, "core_throttle_count"), "4")
    for i in range(4):
        put(root, cpu.format(i, "package_throttle_count"), "30")
    put(root, "sys/devices/system/cpu/cpu1/cpufreq/scaling_max_freq", "2000000")
    assert sampler.sample(now=1.0)["throttle"] == {
        "core_throttle_count": 3,
        "package_throttle_count": 3,
        "freq_capped": True,
    }


def test_throttle_counters_are_read_once_per_core_and_package(tmp_path: Path) -> None:
    root = tree("x86-rapl", tmp_path)
    sampler = TelemetrySampler(str(root), pid=PID)
    read = sorted(os.path.relpath(c.path, root) for c in sampler._throttle_counters)
    assert read == [
        "sys/devices/system/cpu/cpu0/thermal_throttle/core_throttle_count",
        "sys/devices/system/cpu/cpu0/thermal_throttle/package_throttle_count",
        "sys/devices/system/cpu/cpu1/thermal_throttle/core_throttle_count",
    ]


# -- robustness ------------------------------------------------------------------


def test_unreadable_zones_are_skipped_and_names_stay_stable(tmp_path: Path, fail_reads) -> None:
    root = tree("x86-rapl", tmp_path)
    sampler = TelemetrySampler(str(root), pid=PID)
    zone = root / "sys/class/thermal"
    fail_reads(zone / "thermal_zone0/temp", errno.EIO)
    fail_reads(zone / "thermal_zone3/temp", errno.EINVAL)
    fail_reads(zone / "thermal_zone4/temp", errno.ENODATA)
    s = sampler.sample(now=1.0)
    # zone1 keeps its ".1" even while zone0 is unreadable
    assert s["thermal"] == {"acpitz.1": 29.8}
    assert sampler.errors == {}


def test_all_zones_unreadable_means_no_thermal_key(tmp_path: Path, fail_reads) -> None:
    root = tree("raspberrypi-4", tmp_path)
    sampler = TelemetrySampler(str(root), pid=PID)
    fail_reads(root / "sys/class/thermal/thermal_zone0/temp", errno.EIO)
    assert "thermal" not in sampler.sample(now=1.0)


def test_sentinel_temperatures_are_not_readings(tmp_path: Path) -> None:
    root = tree("x86-rapl", tmp_path)
    put(root, "sys/class/thermal/thermal_zone4/temp", "-32768000")
    s = TelemetrySampler(str(root), pid=PID).sample(now=1.0)
    assert "iwlwifi_1" not in s["thermal"]


def test_garbage_and_empty_files_leave_figures_out(tmp_path: Path) -> None:
    root = tree("x86-rapl", tmp_path)
    sampler = TelemetrySampler(str(root), pid=PID)
    sampler.sample(now=1.0)
    put(root, "proc/stat", "cpu  lots of ticks\nintr 1")
    put(root, f"proc/{PID}/stat", "4242 (python3")
    put(root, f"proc/{PID}/status", "Name:\tpython3\nVmRSS:\tplenty")
    put(root, "proc/meminfo", "")
    put(root, "sys/class/thermal/thermal_zone0/temp", "hot")
    put(root, "sys/class/thermal/thermal_zone1/temp", "")
    put(root, "sys/devices/system/cpu/cpu0/cpufreq/scaling_cur_freq", "<unknown>")
    put(root, "sys/devices/system/cpu/cpu0/thermal_throttle/core_throttle_count", "\x00\x01")
    put(root, "sys/class/powercap/intel-rapl:0/energy_uj", "-")
    put(root, "sys/class/power_supply/BAT0/power_now", "12.5W")
    s = sampler.sample(now=2.0)
    for key in ("cpu_sys", "cpu_agent", "rss_mb", "mem_total_mb", "mem_used_mb", "mem_avail_mb"):
        assert key not in s
    assert s["thermal"] == {"x86_pkg_temp": 52.0, "iwlwifi_1": 41.0}
    assert "cpu0" not in s["freq_mhz"] and s["freq_mhz"]["cpu1"] == 1800.021
    assert "rapl:package-0" not in s["power_w"] and "power_supply:BAT0" not in s["power_w"]
    assert s["throttle"]["package_throttle_count"] == 0
    assert sampler.errors == {}, "garbage must be handled by parsing, not by the safety net"


def test_missing_process_leaves_only_its_figures_out(tmp_path: Path) -> None:
    root = tree("x86-rapl", tmp_path)
    sampler = TelemetrySampler(str(root), pid=999999)
    sampler.sample(now=1.0)
    bump_proc_stat(root, user=10, idle=10)
    s = sampler.sample(now=2.0)
    assert "cpu_agent" not in s and "rss_mb" not in s
    assert s["cpu_sys"] == 50.0 and "mem_total_mb" in s


def test_a_tree_without_proc_or_sys_gives_an_empty_sample(tmp_path: Path) -> None:
    sampler = TelemetrySampler(str(tmp_path), pid=PID)
    assert sampler.static_facts() == {}
    assert sampler.sample() == {}
    assert sampler.sample() == {}


def test_permission_denied_energy_is_reported_once_and_not_sampled(
    tmp_path: Path, fail_reads
) -> None:
    root = tree("x86-rapl", tmp_path)
    energy = root / "sys/class/powercap/intel-rapl:0/energy_uj"
    fail_reads(energy, errno.EACCES)
    sampler = TelemetrySampler(str(root), pid=PID)
    facts = sampler.static_facts()
    assert facts["unreadable"] == {str(energy): "permission denied"}
    assert "rapl:package-0" not in facts["power_sources"]
    assert "rapl:package-0/core" in facts["power_sources"]
    assert "rapl:package-0" not in sampler.sample(now=1.0)["energy_j"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_permission_denied_by_file_mode(tmp_path: Path) -> None:
    root = tree("x86-rapl", tmp_path)
    energy = root / "sys/class/powercap/intel-rapl:0/energy_uj"
    temp = root / "sys/class/thermal/thermal_zone3/temp"
    energy.chmod(0)
    sampler = TelemetrySampler(str(root), pid=PID)
    assert str(energy) in sampler.static_facts()["unreadable"]
    temp.chmod(0)
    assert "x86_pkg_temp" not in sampler.sample(now=1.0)["thermal"]


def test_every_sample_is_a_valid_wire_payload(tmp_path: Path) -> None:
    for name in ("x86-rapl", "jetson-orin", "raspberrypi-4", "vm-no-sensors"):
        root = tree(name, tmp_path)
        sampler = TelemetrySampler(str(root), pid=PID)
        json.dumps(sampler.static_facts(), allow_nan=False)
        json.dumps(sampler.sample(now=1.0), allow_nan=False)
        bump_proc_stat(root, user=1, idle=1)
        json.dumps(sampler.sample(now=1.0), allow_nan=False)  # same time: no division by 0


def test_this_machine(tmp_path: Path) -> None:
    """The real /proc and /sys: CPU and memory always; sensors only if it has them."""
    sampler = TelemetrySampler()
    first = sampler.sample()
    t_end = time.process_time() + 0.05
    while time.process_time() < t_end:
        pass
    s = sampler.sample()
    assert "cpu_sys" not in first and "cpu_agent" not in first
    assert 0.0 <= s["cpu_sys"] <= 100.0
    assert s["cpu_agent"] > 0.0
    assert 0 < s["rss_mb"] < s["mem_total_mb"]
    assert s["mem_used_mb"] + s["mem_avail_mb"] == pytest.approx(s["mem_total_mb"])
    assert sampler.errors == {}
    json.dumps(s, allow_nan=False)


# -- the module stands alone -----------------------------------------------------


def test_module_is_python38_and_standard_library_only() -> None:
    """telemetry.py and the two modules it reads with (sysfs.py, power.py) go to devices
    with nothing but a system Python 3.8: standard library and each other only."""
    agent_dir = Path(telemetry.__file__).parent
    for name in ("telemetry.py", "sysfs.py", "power.py"):
        module = ast.parse((agent_dir / name).read_text(), feature_version=(3, 8))
        imported = set()
        for node in ast.walk(module):
            if isinstance(node, ast.Import):
                imported.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module:
                if node.module in ("console.agent.sysfs", "console.agent.power"):
                    continue
                imported.add(node.module.split(".")[0])
        assert imported <= set(sys.stdlib_module_names) | {"__future__"}, (name, imported)


# -- the thread --------------------------------------------------------------------


class FakeSampler(TelemetrySampler):
    """Records the ``now`` it is called with; optionally burns CPU or takes wall time."""

    def __init__(self, burn_s: float = 0.0, sleep_s: float = 0.0) -> None:
        self.calls: list[float] = []
        self.burn_s = burn_s
        self.sleep_s = sleep_s

    def sample(self, now: float | None = None) -> dict[str, Any]:
        self.calls.append(time.monotonic() if now is None else now)
        end = time.thread_time() + self.burn_s
        while time.thread_time() < end:
            pass
        time.sleep(self.sleep_s)
        return {"n": len(self.calls)}


def run_thread(
    sampler: TelemetrySampler, period: float, seconds: float, emit=None
) -> tuple[TelemetryThread, list[tuple[float, dict[str, Any]]], float]:
    got: list[tuple[float, dict[str, Any]]] = []
    thread = TelemetryThread(sampler, period, emit or (lambda ts, s: got.append((ts, s))))
    thread.start()
    time.sleep(seconds)
    t0 = time.monotonic()
    thread.stop()
    thread.join(5.0)
    return thread, got, time.monotonic() - t0


def test_thread_samples_on_the_period_and_stops_promptly(tmp_path: Path) -> None:
    sampler = TelemetrySampler(str(tree("vm-no-sensors", tmp_path)), pid=PID)
    thread, got, join_s = run_thread(sampler, 0.1, 1.0)
    assert thread.daemon and not thread.is_alive()
    assert thread.error is None
    assert 3 <= len(got) <= 15
    assert join_s < 0.5
    stamps = [ts for ts, _ in got]
    assert stamps == sorted(stamps) and abs(stamps[0] - time.time()) < 60
    assert "sampler_cpu" not in got[0][1]  # a rate: needs a previous sample
    for _, s in got[1:]:
        assert s["sampler_cpu"] >= 0.0
        assert "mem_total_mb" in s


def test_sampler_cpu_reports_what_sampling_costs() -> None:
    sampler = FakeSampler(burn_s=0.02)  # 20 ms of CPU every 100 ms: about 20 %
    _, got, _ = run_thread(sampler, 0.1, 1.0)
    costs = sorted(s["sampler_cpu"] for _, s in got[1:])
    assert len(costs) >= 3
    assert 5.0 < costs[len(costs) // 2] < 60.0


def test_thread_keeps_to_a_deadline_schedule() -> None:
    # wall time, not CPU time: on a busy machine 60 ms of CPU can take > 1 period
    sampler = FakeSampler(sleep_s=0.06)
    run_thread(sampler, 0.1, 1.05)
    calls = sampler.calls
    assert len(calls) >= 4
    # sleep(period) after each 60 ms sample would make every step ~0.16 s; on the
    # grid the typical step stays at the period (the median ignores a skipped tick)
    steps = sorted(b - a for a, b in itertools.pairwise(calls))
    assert steps[len(steps) // 2] < 0.13


def test_next_deadline_keeps_the_grid_and_skips_missed_ticks() -> None:
    assert _next_deadline(10.0, 10.03, 0.1) == pytest.approx(10.1)  # on time
    assert _next_deadline(10.0, 10.09, 0.1) == pytest.approx(10.1)  # late, still ahead
    assert _next_deadline(10.0, 10.25, 0.1) == pytest.approx(10.3)  # stalled: skip 10.1, 10.2
    assert _next_deadline(10.0, 10.3, 0.1) == pytest.approx(10.4)


def test_an_emit_that_raises_ends_the_thread_quietly(monkeypatch: pytest.MonkeyPatch) -> None:
    hooked: list[Any] = []
    monkeypatch.setattr(threading, "excepthook", hooked.append)
    calls: list[float] = []

    def emit(ts: float, sample: dict[str, Any]) -> None:
        calls.append(ts)
        raise BrokenPipeError(32, "Broken pipe")

    thread = TelemetryThread(FakeSampler(), 0.05, emit)
    thread.start()
    thread.join(2.0)
    assert not thread.is_alive()
    assert calls and len(calls) == 1
    assert isinstance(thread.error, BrokenPipeError)
    assert hooked == []


def test_period_must_be_positive() -> None:
    with pytest.raises(ValueError, match="period"):
        TelemetryThread(FakeSampler(), 0, lambda ts, s: None)
