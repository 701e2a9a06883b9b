"""Plain-text rendering of summaries and sessions for the terminal.

Shared by ``run``, ``sessions show`` and ``sessions compare`` so the same
figure always reads the same way. Missing figures print as ``unavailable``.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from typing import Any

NA = "unavailable"


def fmt_num(v: Any, spec: str = ".3f", unit: str = "") -> str:
    if v is None:
        return NA
    return f"{v:{spec}}{unit}"


def fmt_time(ts: float | None) -> str:
    if not ts:
        return "-"
    return _dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def summary_lines(summary: Mapping[str, Any]) -> list[str]:
    lines = []
    fps = summary.get("fps")
    lines.append(f"frames {summary.get('frames', 0)}   fps {fmt_num(fps, '.1f')}   "
                 f"duration {fmt_num(summary.get('duration_s'), '.2f', ' s')}"
                 + (f"   missing {summary['missing_frames']}" if "missing_frames" in summary
                    else ""))
    lat = summary.get("latency_ms") or {}
    cols = ("p50", "p90", "p95", "p99", "p99.9", "max")
    lines.append("latency (ms) " + "".join(f"{c:>9}" for c in cols))
    for stage in ("pre", "infer", "post", "e2e"):
        st = lat.get(stage)
        if not st:
            lines.append(f"  {stage:<10} " + f"{NA:>9}")
            continue
        lines.append(f"  {stage:<10} " + "".join(f"{st[c]:>9.3f}" for c in cols))
    rd = summary.get("read_ms")
    if rd:  # not part of e2e: the time the source took to hand over each frame
        lines.append("  read*      " + "".join(f"{rd[c]:>9.3f}" for c in cols)
                     + "   (*decode/capture, outside e2e)")
    cold = summary.get("cold_start_ms")
    if cold and cold.get("total") is not None:
        lines.append(f"cold start   {cold['total']:.1f} ms "
                     f"(package {fmt_num(cold['package'], '.1f', ' ms')}"
                     f", session {fmt_num(cold['session'], '.1f', ' ms')}, first inference "
                     f"{fmt_num(cold['first_infer'], '.1f', ' ms')})")
    else:
        lines.append(f"cold start   {NA}")
    cpu = summary.get("cpu") or {}
    lines.append(f"cpu          system mean {fmt_num(cpu.get('sys_mean'), '.0f', '%')} peak "
                 f"{fmt_num(cpu.get('sys_peak'), '.0f', '%')}   agent mean "
                 f"{fmt_num(cpu.get('agent_mean'), '.0f', '%')} peak "
                 f"{fmt_num(cpu.get('agent_peak'), '.0f', '%')}")
    mem = summary.get("memory") or {}
    lines.append(f"memory       agent RSS peak {fmt_num(mem.get('rss_peak_mb'), '.1f', ' MiB')}"
                 f"   system used peak {fmt_num(mem.get('mem_used_peak_mb'), '.0f', ' MiB')}")
    th = summary.get("thermal")
    if th:
        zones = ", ".join(f"{k} {v:.1f}" for k, v in sorted(th["zones"].items()))
        lines.append(f"temperature  max {th['max_c']:.1f} °C ({zones})")
    else:
        lines.append(f"temperature  {NA} (the device reports no thermal zones)")
    pw = summary.get("power")
    if pw:
        mean = ", ".join(f"{k} {v:.2f} W" for k, v in sorted(pw["mean_w"].items()))
        lines.append(f"power        {mean or NA}; energy/inference "
                     f"{fmt_num(pw.get('energy_per_inference_mj'), '.3f', ' mJ')}"
                     + (f" ({pw['primary']})" if pw.get("primary") else ""))
    else:
        lines.append(f"power        {NA} (no power sensor on the device)")
    tel = summary.get("telemetry") or {}
    lines.append(f"telemetry    {tel.get('samples', 0)} samples, sampling cost "
                 f"{fmt_num(tel.get('sampler_cpu_mean'), '.2f', '% of a core')}")
    acc = summary.get("accuracy")
    if acc:
        lines.append(f"accuracy     top-1 {fmt_num(acc.get('top1'), '.4f')} on "
                     f"{acc.get('frames_scored', 0)} frames with ground truth")
    for b in summary.get("budgets") or []:
        v = b["value"]
        lines.append(f"budget       {b['budget']:<13} {fmt_num(v, '.3f')} vs {b['limit']:g}: "
                     f"{b['verdict'].upper()}")
    return lines
