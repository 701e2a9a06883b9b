"""Wire protocol v1: round trips, strict validation, bounded line reading."""

from __future__ import annotations

import json

import pytest

from console.core import protocol as P


def test_every_message_round_trips() -> None:
    msgs = [
        P.Hello(1, "0.1.0", 42, {"os": "Linux"}, {"wall": 1.0, "mono": 2.0}),
        P.ColdStart(1.0, 2.0, 3.0, 6.0, "CPUExecutionProvider", ["CPUExecutionProvider"],
                    {"kind": "video"}),
        P.Frame(7, 123.5, 0.1, 1.2, 0.05, 1.35, {"top": [[3, 0.9]]}),
        P.Frame(8, 123.6, 0.1, 1.2, 0.05, 1.35, {"top": [[3, 0.9]]}, 2.5),
        P.Preview(7, 123.5, 320, 240, "AAAA"),
        P.Telemetry(124.0, 100.0, {"cpu_sys": 12.5}),
        P.Event("warning", "input_truncated", "ended early"),
        P.Error("camera_missing", "no camera", True),
        P.Summary(8, 8, 2.5, "end_of_input"),
    ]
    for m in msgs:
        line = P.encode(m)
        assert line.endswith(b"\n") and line.count(b"\n") == 1
        assert P.decode(line) == m


@pytest.mark.parametrize("line, fragment", [
    (b"not json", "not a JSON line"),
    (b"[1,2]", "must be a JSON object"),
    (b'{"t":"nope"}', "unknown message type"),
    (b'{"t":"frame","i":"x","ts":1,"pre":1,"infer":1,"post":1,"e2e":1,"out":{}}', "'i'"),
    (b'{"t":"frame","i":1,"ts":true,"pre":1,"infer":1,"post":1,"e2e":1,"out":{}}', "'ts'"),
    (b'{"t":"summary","frames":1,"sent":1,"duration_s":1}', "'reason'"),
    (b'{"t":"frame","i":1,"ts":1,"pre":1,"infer":1,"post":1,"e2e":1,"out":{},"read_ms":"x"}',
     "'read_ms'"),
    (b"\xff\xfe garbage", "not a JSON line"),
])
def test_invalid_lines_raise_protocol_error(line: bytes, fragment: str) -> None:
    with pytest.raises(P.ProtocolError, match=fragment):
        P.decode(line)


def test_nan_is_not_encoded() -> None:
    with pytest.raises(ValueError):
        P.encode(P.Frame(0, 0.0, float("nan"), 0.0, 0.0, 0.0, {}))


def test_line_reader_splits_across_chunks() -> None:
    r = P.LineReader()
    assert r.feed(b'{"a":') == []
    assert r.feed(b'1}\n{"b"') == [b'{"a":1}']
    assert r.feed(b":2}\n\n") == [b'{"b":2}']
    assert r.pending() == b""
    assert r.feed(b"tail") == []
    assert r.pending() == b"tail"


def test_line_reader_bounds_memory_on_gigantic_line() -> None:
    r = P.LineReader(max_line=1000)
    out = []
    for _ in range(100):  # 100 KB without a newline
        out += r.feed(b"x" * 1000)
        assert len(r.pending()) <= 1000
    out += r.feed(b'x\n{"ok":1}\n')
    errors = [o for o in out if isinstance(o, P.ProtocolError)]
    assert len(errors) == 1
    assert out[-1] == b'{"ok":1}'


def test_commands() -> None:
    assert P.decode_command(P.encode_command("stop")) == {"cmd": "stop"}
    with pytest.raises(P.ProtocolError):
        P.decode_command(b'{"nocmd":1}')
    assert json.loads(P.encode_command("ping", n=1)) == {"cmd": "ping", "n": 1}


def test_frame_read_ms_is_optional_both_ways() -> None:
    """v1 stays v1: a frame without read_ms (older agent) decodes with None, and a frame
    that has none is sent without the key (what an older console has always read)."""
    old_agent = (b'{"t":"frame","i":1,"ts":1.0,"pre":0.1,"infer":0.2,"post":0.3,"e2e":0.6,'
                 b'"out":{}}')
    f = P.decode(old_agent)
    assert isinstance(f, P.Frame) and f.read_ms is None
    assert P.encode(f) == old_agent + b"\n"
    with_read = P.encode(P.Frame(1, 1.0, 0.1, 0.2, 0.3, 0.6, {}, 4.0))
    assert json.loads(with_read)["read_ms"] == 4.0
    assert json.loads(with_read)["e2e"] == 0.6, "e2e stays pre+infer+post, read not in it"
