"""Exports and bundles written to what users really name with ``-o``.

Each case is made for real: a FIFO (``os.mkfifo``) with a reader thread, a
character device node (``os.mknod``, root), symlinks to a file, to a missing
file and to ``/dev/stdout``, a pseudo-terminal, ``-`` and ``/dev/stdout``
through the real ``devicelab`` command, a missing folder. Before the fix a
rename replaced the FIFO, the device or the link with a regular file,
``-o -`` wrote a file named ``-`` and a missing folder was created.
"""

from __future__ import annotations

import io
import json
import os
import pty
import stat
import subprocess
import threading
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from helpers.faults import IN_CI
from helpers.recording import DEVICELAB, PKG, VIDEO, record

from console.core.store import SessionStore
from console.session.bundle import export_bundle
from console.session.export import ExportError, export_comparison, export_session
from console.session.export.target import resolve_target


@pytest.fixture(scope="module")
def rec(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    d = tmp_path_factory.mktemp("targets")
    db = d / "sessions.db"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DEVICELAB_HOME", str(d / "home"))
        sid = record(db, PKG, str(VIDEO))
        other = record(db, PKG, str(VIDEO), frames=50)
    with SessionStore(db) as st:
        frames = st.frame_count(sid)
    return {"db": db, "id": sid, "other": other, "frames": frames}


@pytest.fixture
def store(rec: dict[str, Any]) -> Any:
    with SessionStore(rec["db"]) as st:
        yield st


def dl(*args: str, cwd: Path | None = None, stdout: Any = subprocess.PIPE
       ) -> subprocess.CompletedProcess[bytes]:
    if "/dev/stdout" in args:
        # the machine's own link: name it only when the code under test writes through it
        # (code without the fix replaced the link with a file, for every process here)
        assert resolve_target("/dev/stdout").stream, "would replace /dev/stdout: not run"
    res = subprocess.run([DEVICELAB, *args], stdout=stdout, stderr=subprocess.PIPE,
                         stdin=subprocess.DEVNULL, cwd=cwd, timeout=120)
    assert b"Traceback" not in (res.stdout or b"") + res.stderr
    return res


def error_line(res: subprocess.CompletedProcess[bytes]) -> str:
    lines = res.stderr.decode().strip().splitlines()
    assert res.returncode == 2 and len(lines) == 1, res.stderr
    assert lines[0].startswith("devicelab: error: ")
    return lines[0]


def read_fifo(fifo: Path, write: Callable[[], Any]) -> tuple[bytes, Any]:
    """Run ``write`` while a thread reads the FIFO to its end. When the writer never
    opened the FIFO (it renamed a file over it), the reader is released through a
    second name of the FIFO so the test fails instead of hanging."""
    spare = fifo.with_name(fifo.name + ".spare")
    os.link(fifo, spare)
    got: list[bytes] = []

    def reader() -> None:
        with open(spare, "rb") as fh:
            got.append(fh.read())

    t = threading.Thread(target=reader, daemon=True)
    t.start()
    try:
        result = write()
    finally:
        try:  # a reader still waiting means nobody wrote the FIFO: let it go
            os.close(os.open(spare, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass  # no reader waiting (ENXIO): it read to the end
        t.join(30)
    assert not t.is_alive()
    return got[0] if got else b"", result


def test_fifo_gets_the_export_and_stays_a_fifo(rec: dict[str, Any], store: SessionStore,
                                               tmp_path: Path) -> None:
    fifo = tmp_path / "frames.json"
    os.mkfifo(fifo)
    data, res = read_fifo(fifo, lambda: export_session(store, rec["id"], "json", fifo))
    assert stat.S_ISFIFO(fifo.lstat().st_mode)  # before the fix: a regular file
    assert len(json.loads(data)["frames"]) == rec["frames"] == res.frames
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames.json", "frames.json.spare"]


def test_bundle_through_a_fifo_is_a_whole_zip(rec: dict[str, Any], store: SessionStore,
                                              tmp_path: Path) -> None:
    fifo = tmp_path / "run.dlbundle"
    os.mkfifo(fifo)
    data, _ = read_fifo(fifo, lambda: export_bundle(store, rec["id"], fifo))
    assert stat.S_ISFIFO(fifo.lstat().st_mode)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:  # not seekable while written: still whole
        assert zf.testzip() is None
        assert json.loads(zf.read("bundle.json"))["counts"]["frames"] == rec["frames"]


def test_mcap_through_a_fifo_reads_back(rec: dict[str, Any], store: SessionStore,
                                        tmp_path: Path) -> None:
    from mcap.reader import make_reader

    fifo = tmp_path / "run.mcap"
    os.mkfifo(fifo)
    data, _ = read_fifo(fifo, lambda: export_session(store, rec["id"], "mcap", fifo))
    summary = make_reader(io.BytesIO(data), validate_crcs=True).get_summary()
    assert summary is not None and summary.statistics is not None
    assert summary.statistics.message_count >= rec["frames"]


def test_character_device_is_written_not_replaced(rec: dict[str, Any], store: SessionStore,
                                                  tmp_path: Path) -> None:
    null = tmp_path / "null"
    try:
        os.mknod(null, stat.S_IFCHR | 0o666, os.makedev(1, 3))  # a /dev/null of our own
    except PermissionError:
        if IN_CI:
            pytest.fail("CI=true: a device node must be made here, but mknod needs root")
        pytest.skip("making a device node needs root (CI runs as root)")
    export_session(store, rec["id"], "html", null)
    assert stat.S_ISCHR(null.lstat().st_mode)  # before the fix: a regular 70 KB file
    assert list(tmp_path.iterdir()) == [null]


def test_symlink_to_a_file_stays_a_link(rec: dict[str, Any], store: SessionStore,
                                        tmp_path: Path) -> None:
    real_dir = tmp_path / "reports"
    real_dir.mkdir()
    real = real_dir / "latest.html"
    real.write_text("old")
    link = tmp_path / "report.html"
    link.symlink_to(real)
    export_session(store, rec["id"], "html", link)
    assert link.is_symlink() and link.resolve() == real
    assert real.read_text(encoding="utf-8").startswith("<!DOCTYPE html>")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["latest.html", "report.html",
                                                           "reports"]
    # a link to a file not there yet: the file appears where the link points
    dangling = tmp_path / "next.json"
    dangling.symlink_to(real_dir / "next.json")
    export_session(store, rec["id"], "json", dangling)
    assert dangling.is_symlink() and json.loads((real_dir / "next.json").read_text())


def test_existing_file_keeps_its_permissions(rec: dict[str, Any], store: SessionStore,
                                             tmp_path: Path) -> None:
    private = tmp_path / "private.json"
    private.write_text("")
    private.chmod(0o600)
    export_session(store, rec["id"], "json", private)
    assert stat.S_IMODE(private.stat().st_mode) == 0o600  # before the fix: 0644


def test_missing_folder_is_refused_not_created(rec: dict[str, Any], store: SessionStore,
                                               tmp_path: Path) -> None:
    where = tmp_path / "no" / "such"
    for write in (lambda: export_session(store, rec["id"], "html", where / "x.html"),
                  lambda: export_bundle(store, rec["id"], where / "x.dlbundle"),
                  lambda: export_comparison(store, rec["id"], rec["other"], where / "c.json")):
        with pytest.raises(ExportError, match=f"folder {where} does not exist") as err:
            write()
        assert "\n" not in str(err.value)
    assert not (tmp_path / "no").exists()
    with pytest.raises(ExportError, match="it is a folder"):
        export_session(store, rec["id"], "json", tmp_path)


def test_csv_to_a_stream_is_refused_before_writing(rec: dict[str, Any], store: SessionStore,
                                                   tmp_path: Path) -> None:
    fifo = tmp_path / "frames.csv"
    os.mkfifo(fifo)  # no reader: a writer that opened it would hang here
    with pytest.raises(ExportError, match="csv writes two files"):
        export_session(store, rec["id"], "csv", fifo)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["frames.csv"]


# -- through the real command --------------------------------------------------------
def test_dash_is_standard_output(rec: dict[str, Any], tmp_path: Path) -> None:
    db = str(rec["db"])
    res = dl("sessions", "export", str(rec["id"]), "--format", "json", "-o", "-", "--db", db,
             cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    assert len(json.loads(res.stdout)["frames"]) == rec["frames"]  # nothing else on stdout
    assert b"wrote standard output" in res.stderr
    assert list(tmp_path.iterdir()) == []  # before the fix: a file named "-"
    html = dl("sessions", "export", str(rec["id"]), "--format", "html", "-o", "-", "--db", db)
    assert html.returncode == 0 and html.stdout.startswith(b"<!DOCTYPE html>")
    assert html.stdout.rstrip().endswith(b"</html>")
    bundle = dl("sessions", "export", str(rec["id"]), "--format", "bundle", "-o", "-", "--db",
                db)
    assert bundle.returncode == 0
    with zipfile.ZipFile(io.BytesIO(bundle.stdout)) as zf:
        assert zf.testzip() is None
    csv = dl("sessions", "export", str(rec["id"]), "--format", "csv", "-o", "-", "--db", db,
             cwd=tmp_path)
    assert "cannot write standard output: csv writes two files" in error_line(csv)
    assert csv.stdout == b"" and list(tmp_path.iterdir()) == []


def test_binary_export_is_not_written_to_a_terminal(rec: dict[str, Any]) -> None:
    main, tty = pty.openpty()
    try:
        res = dl("sessions", "export", str(rec["id"]), "--format", "mcap", "-o", "-", "--db",
                 str(rec["db"]), stdout=tty)
    finally:
        os.close(tty)
        os.close(main)
    assert "cannot write standard output: it is a terminal and this export is binary" in \
        error_line(res)


def test_dev_stdout_and_links_to_it_are_written_through(rec: dict[str, Any],
                                                        tmp_path: Path) -> None:
    db = str(rec["db"])
    link = tmp_path / "out.html"
    link.symlink_to("/dev/stdout")
    res = dl("sessions", "export", str(rec["id"]), "--format", "html", "-o", str(link),
             "--db", db)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith(b"<!DOCTYPE html>") and b"wrote" not in res.stdout
    assert link.is_symlink() and os.readlink(link) == "/dev/stdout"  # before: a file
    # /dev/stdout itself, the case that once replaced the machine's link with a file
    res = dl("sessions", "export", str(rec["id"]), "--format", "json", "-o", "/dev/stdout",
             "--db", db)
    assert res.returncode == 0, res.stderr
    assert len(json.loads(res.stdout)["frames"]) == rec["frames"]
    assert os.path.islink("/dev/stdout")


def test_stdout_redirected_to_a_file_is_appended_not_replaced(rec: dict[str, Any],
                                                              tmp_path: Path) -> None:
    """``>> log`` then ``-o`` a link to /dev/stdout: the file the shell opened gets the
    export after what it already held (a rename would have made a new file behind its
    back, and replaced the link)."""
    out = tmp_path / "log.txt"
    out.write_bytes(b"before\n")
    link = tmp_path / "stdout"
    link.symlink_to("/dev/stdout")
    with open(out, "ab") as fh:
        res = dl("sessions", "export", str(rec["id"]), "--format", "json", "-o", str(link),
                 "--db", str(rec["db"]), stdout=fh)
    assert res.returncode == 0, res.stderr
    assert link.is_symlink()
    text = out.read_bytes()
    assert text.startswith(b"before\n{") and json.loads(text[len(b"before\n"):])


def test_missing_folder_through_the_command(rec: dict[str, Any], tmp_path: Path) -> None:
    missing = tmp_path / "nonexistent" / "dir"  # not /nonexistent: a regression would make it
    res = dl("sessions", "export", str(rec["id"]), "--format", "html", "-o",
             str(missing / "x.html"), "--db", str(rec["db"]))
    assert f"cannot write {missing}/x.html: folder {missing} does not exist" in error_line(res)
    assert not (tmp_path / "nonexistent").exists()


def test_reader_closing_the_pipe_is_one_line(rec: dict[str, Any]) -> None:
    proc = subprocess.Popen([DEVICELAB, "sessions", "export", str(rec["id"]), "--format",
                             "json", "-o", "-", "--db", str(rec["db"])],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL)
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.read(10) == b'{"format":'
    proc.stdout.close()  # like `| head -c 10`: the JSON (100 KB) outgrows the pipe
    err = proc.stderr.read().decode()
    assert proc.wait(60) == 2
    assert err.strip().splitlines() == [
        "devicelab: error: cannot write standard output: the reader closed the pipe"]
