"""The agent bundle as a process: exit status, commands, and clean shutdown."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from console.core import protocol as P
from console.devices.agent_bundle import local_bundle_path


def _run(args: list[str], stdin: bytes, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(local_bundle_path()), *args], input=stdin,
                          capture_output=True, timeout=timeout)


def _run_open_stdin(args: list[str], timeout: float = 60) -> tuple[bytes, bytes, int]:
    """Run the agent to its own end with stdin kept open (EOF on stdin means "stop")."""
    proc = subprocess.Popen([sys.executable, str(local_bundle_path()), *args],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdin is not None and proc.stdout is not None and proc.stderr is not None
    try:
        out = proc.stdout.read()  # until the agent closes it: its run is over
        proc.wait(timeout)
        err = proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for s in (proc.stdin, proc.stdout, proc.stderr):
            s.close()
    return out, err, proc.returncode


def test_completed_run_exits_zero_with_stdin_still_open(demo_package: Path) -> None:
    # stdin stays open (as with a console) until after the agent has finished.
    proc = subprocess.Popen([sys.executable, str(local_bundle_path()), "run", "--package",
                             str(demo_package), "--input", "synthetic:32x32", "--frames", "5"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    out, err = proc.stdout.read(), None
    proc.wait(60)
    err = proc.stderr.read()
    proc.stdin.close()
    proc.stdout.close()
    proc.stderr.close()
    assert proc.returncode == 0, err.decode()
    msgs = [P.decode(line) for line in out.splitlines()]
    assert isinstance(msgs[0], P.Hello) and isinstance(msgs[-1], P.Summary)
    assert msgs[-1].reason == "frame_limit" and msgs[-1].frames == msgs[-1].sent == 5
    assert b"Fatal Python error" not in err


def test_stop_ping_and_bad_commands(demo_package: Path) -> None:
    cmds = b'{"cmd":"ping"}\nnot json\n{"cmd":"dance"}\n{"cmd":"stop"}\n'
    res = _run(["run", "--package", str(demo_package), "--input", "synthetic:32x32",
                "--fps", "20"], cmds)
    assert res.returncode == 0, res.stderr.decode()
    msgs = [P.decode(line) for line in res.stdout.splitlines()]
    codes = [m.code for m in msgs if isinstance(m, P.Event)]
    assert "pong" in codes and codes.count("bad_command") == 2
    assert msgs[-1].reason == "stopped"


def test_input_on_stdin_then_commands_in_the_same_write(demo_package: Path) -> None:
    """--input-stdin: the first line is the input, what follows it (even in the same
    read) are commands as usual; the input is on no command line."""
    cmds = b'synthetic:24x24\n{"cmd":"ping"}\n{"cmd":"stop"}\n'
    res = _run(["run", "--package", str(demo_package), "--input-stdin", "--fps", "20"], cmds)
    assert res.returncode == 0, res.stderr.decode()
    msgs = [P.decode(line) for line in res.stdout.splitlines()]
    assert "pong" in [m.code for m in msgs if isinstance(m, P.Event)]
    assert msgs[-1].reason == "stopped"
    (cold,) = [m for m in msgs if isinstance(m, P.ColdStart)]
    assert (cold.input.get("width"), cold.input.get("height")) == (24, 24), cold.input


def test_input_on_stdin_missing_is_a_protocol_error(demo_package: Path) -> None:
    res = _run(["run", "--package", str(demo_package), "--input-stdin"], b"")
    assert res.returncode == 3
    msgs = [P.decode(line) for line in res.stdout.splitlines()]
    (err,) = [m for m in msgs if isinstance(m, P.Error)]
    assert err.code == "input_missing" and "--input-stdin" in err.text
    both = _run(["run", "--package", str(demo_package), "--input", "synthetic",
                 "--input-stdin"], b"")
    assert both.returncode == 2 and b"not allowed with argument" in both.stderr


def test_missing_package_is_a_protocol_error(tmp_path: Path) -> None:
    res = _run(["run", "--package", str(tmp_path), "--input", "synthetic"], b"")
    assert res.returncode == 3
    msgs = [P.decode(line) for line in res.stdout.splitlines()]
    errors = [m for m in msgs if isinstance(m, P.Error)]
    assert errors and errors[0].code == "package_invalid" and "manifest.json" in errors[0].text
    assert msgs[-1].reason == "error"


def test_changed_manifest_refused_by_expect_digest(demo_package: Path) -> None:
    res = _run(["run", "--package", str(demo_package), "--input", "synthetic",
                "--expect-digest", "0" * 64], b"")
    msgs = [json.loads(line) for line in res.stdout.splitlines()]
    assert any(m["t"] == "error" and m["code"] == "package_changed" for m in msgs)
    assert res.returncode == 3


def _edited_package(src: Path, dst: Path, **changes: dict) -> Path:
    """A copy of ``src`` with manifest sections updated (the manifest is not in its own
    hashes, and the agent is run directly here, without the console's checks)."""
    shutil.copytree(src, dst)
    d = json.loads((dst / "manifest.json").read_text())
    for section, fields in changes.items():
        if isinstance(d.get(section), dict):
            d[section].update(fields)
        else:
            d[section] = fields
    (dst / "manifest.json").write_text(json.dumps(d))
    return dst


def _unexpected_error(res: subprocess.CompletedProcess) -> P.Error:
    """The run ended in exactly one agent_exception error, one line, then a summary."""
    msgs = [P.decode(line) for line in res.stdout.splitlines()]
    assert isinstance(msgs[0], P.Hello), res.stderr.decode()
    errors = [m for m in msgs if isinstance(m, P.Error)]
    assert len(errors) == 1, res.stderr.decode()
    assert isinstance(msgs[-1], P.Summary) and msgs[-1].reason == "error"
    assert msgs[-2] is errors[0]
    assert res.returncode == 3
    err = errors[0]
    assert err.code == "agent_exception" and err.fatal and "\n" not in err.text
    assert b"Traceback" in res.stderr, "the traceback still goes to stderr"
    return err


def test_unexpected_exception_before_the_first_frame_is_a_protocol_error(
        demo_package: Path, tmp_path: Path) -> None:
    # An input size no array can have (the package lifts the tensor cap for itself): the
    # warm-up tensor cannot be made (ValueError).
    pkg = _edited_package(demo_package, tmp_path / "huge", input={
        "height": 2**31, "width": 2**31, "max_tensor_bytes": 2**66})
    res = _run(["run", "--package", str(pkg), "--input", "synthetic:32x32", "--frames", "5"],
               b"")
    err = _unexpected_error(res)
    assert "before the first frame" in err.text and "ValueError" in err.text
    assert "in warmup" in err.text, "names where it was raised"


def test_unexpected_exception_in_the_frame_loop_is_a_protocol_error(
        demo_package: Path, tmp_path: Path) -> None:
    # A classifier declared as a YOLO detector: decoding its [1, 10] output fails.
    pkg = _edited_package(demo_package, tmp_path / "yolo", task="detection",
                          output={"layout": "yolo"})
    res = _run(["run", "--package", str(pkg), "--input", "synthetic:32x32", "--frames", "5",
                "--telemetry-ms", "20"], b"")
    err = _unexpected_error(res)
    assert "at frame 0" in err.text and "IndexError" in err.text
    msgs = [P.decode(line) for line in res.stdout.splitlines()]
    assert not any(isinstance(m, P.Telemetry) for m in msgs[msgs.index(err):]), \
        "telemetry stopped before the error and summary"


def test_frames_report_read_ms_apart_from_e2e(demo_package: Path, demo_video: Path) -> None:
    out, err, rc = _run_open_stdin(["run", "--package", str(demo_package), "--input",
                                    str(demo_video), "--frames", "40"])
    assert rc == 0, err.decode()
    frames = [m for m in (P.decode(line) for line in out.splitlines())
              if isinstance(m, P.Frame)]
    assert len(frames) == 40
    for f in frames:
        assert f.read_ms is not None and f.read_ms > 0, f  # decoding takes some time
        assert abs(f.e2e - (f.pre + f.infer + f.post)) < 1e-6, "e2e is the three stages only"
    # Frame 0 was decoded while the source opened; that time is not lost.
    assert frames[0].read_ms >= min(f.read_ms for f in frames[1:]) * 0.5
