"""Fault 7: an agent that writes garbage, a truncated line or a gigantic line.

The agent is :func:`helpers.faults.fake_agent`, a real subprocess read
through the built-in device's own pipes. Expected: protocol errors recorded
as session events, every valid frame kept, console memory bounded by the
protocol's line cap (not by what the agent writes), no crash.
"""

from __future__ import annotations

from pathlib import Path

from helpers.faults import (
    GIGANTIC_BYTES,
    Collect,
    FakeAgentDevice,
    finish,
    in_thread,
    memory_kb,
    reset_peak_rss,
)

from console.core import protocol as P
from console.core.store import SessionStore
from console.session.run import Run, RunRequest


def _run(mode: str, demo_package: Path, db_path: Path) -> tuple[Collect, object, list[dict]]:
    ls = Collect()
    run = Run(FakeAgentDevice(mode), RunRequest(str(demo_package), "synthetic:32x32"),
              db_path, ls)
    t, box = in_thread(run)
    result = finish(run, t, box, timeout=120)
    with SessionStore(db_path) as st:
        s = st.get_session(result.session_id)
        assert s is not None
        # nothing received is lost: rows == frames the listener saw
        assert st.frame_count(s["id"]) == len(ls.frames) == s["frames_received"]
        events = st.events(s["id"])
    return ls, result, events


def test_garbage_between_frames_is_recorded_and_frames_kept(demo_package: Path,
                                                            db_path: Path) -> None:
    ls, result, events = _run("garbage", demo_package, db_path)
    assert result.status == "completed", result.error
    assert [f.i for f in ls.frames] == list(range(20))
    protocol = [e for e in events if e["code"] == "protocol"]
    assert protocol, "garbage must show up as protocol errors in the session"
    assert all(e["level"] == "error" for e in protocol)
    assert any("not a JSON line" in e["text"] for e in protocol)
    assert any("unknown message type" in e["text"] for e in protocol)
    # the log is bounded even for lots of junk: at most 5 + every 100th
    assert len(protocol) <= 5 + 120 // 100


def test_an_agent_speaking_only_garbage_is_stopped_as_failed(demo_package: Path,
                                                             db_path: Path) -> None:
    ls, result, events = _run("garbage-only", demo_package, db_path)
    assert result.status == "failed"
    assert result.error.startswith("the agent does not speak protocol v1")
    assert "\n" not in result.error
    assert ls.frames == []
    assert any(e["code"] == "protocol" for e in events)


def test_truncated_last_line_is_a_protocol_error_and_frames_kept(demo_package: Path,
                                                                 db_path: Path) -> None:
    ls, result, events = _run("truncated", demo_package, db_path)
    assert result.status == "failed"
    assert result.error.startswith("the agent ended without a summary (exit status 0)")
    assert [f.i for f in ls.frames] == list(range(10))
    assert any(e["code"] == "protocol" and "truncated last line (25 bytes)" in e["text"]
               for e in events)


def test_gigantic_line_is_discarded_with_bounded_console_memory(demo_package: Path,
                                                                db_path: Path,
                                                                tmp_path: Path) -> None:
    # A first run loads every module a run needs, so what is measured next is the line.
    _run("truncated", demo_package, tmp_path / "warm-up.db")
    before = memory_kb("VmRSS")
    peak_measured = reset_peak_rss()
    ls, result, events = _run("gigantic", demo_package, db_path)
    grew_kb = (memory_kb("VmHWM") if peak_measured else memory_kb("VmRSS")) - before
    assert result.status == "completed", result.error
    # the frames before and after the monster line are all there
    assert [f.i for f in ls.frames] == list(range(20))
    assert any(e["code"] == "protocol" and f"exceeds the {P.MAX_LINE_BYTES}-byte limit"
               in e["text"] for e in events)
    # 50 MB went through; the console may hold at most about one capped line of it
    # (measured here: +4 MB with the 4 MB cap, +101 MB with an unbounded reader)
    assert GIGANTIC_BYTES > 10 * P.MAX_LINE_BYTES
    assert grew_kb * 1024 < 3 * P.MAX_LINE_BYTES, (
        f"console peak RSS grew {grew_kb / 1024:.1f} MB while a "
        f"{GIGANTIC_BYTES >> 20} MB line streamed through")
