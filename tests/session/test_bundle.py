"""Portable bundles: export, import into another log, replay there; and deleting sessions."""

from __future__ import annotations

import hashlib
import json
import shutil
import zipfile
from pathlib import Path
from typing import Any

import pytest
from helpers.recording import PKG, TRUTH, VIDEO, record
from helpers.sessions import add_session

from console.core.store import FRAME_COLUMNS, TELEMETRY_COLUMNS, SessionStore
from console.devices.local import LocalDevice
from console.session.bundle import (
    BundleError,
    delete_session,
    export_bundle,
    import_bundle,
    imported_dir,
    read_bundle_info,
)
from console.session.export import ExportError
from console.session.replay import plan_replay
from console.session.run import Run

TABLES = ("frames", "telemetry", "events", "bookmarks")


def rows(st: SessionStore, sid: int, table: str) -> list[tuple[Any, ...]]:
    cols = ", ".join({"frames": FRAME_COLUMNS, "telemetry": TELEMETRY_COLUMNS,
                      "events": ("ts_unix_s", "level", "code", "text"),
                      "bookmarks": ("frame_i", "ts_unix_s", "note", "created_unix_s")}[table])
    order = "i" if table == "frames" else "ts_unix_s, rowid"
    return st.conn.execute(f"SELECT {cols} FROM {table} WHERE session_id=? ORDER BY {order}",
                           [sid]).fetchall()


@pytest.fixture(scope="module")
def customer(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A 'customer' log whose package and clip live in a folder that will vanish."""
    d = tmp_path_factory.mktemp("customer")
    files = d / "files"
    files.mkdir()
    pkg = files / "pkg"
    shutil.copytree(PKG, pkg)
    clip = files / "customer-clip.avi"
    shutil.copyfile(VIDEO, clip)
    truth = files / "truth.csv"
    shutil.copyfile(TRUTH, truth)
    db = d / "customer.db"
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DEVICELAB_HOME", str(d / "home"))
        sid = record(db, pkg, str(clip), truth=str(truth), note="customer ticket 4711",
                     tags=("field",))
        replay = record(db, pkg, str(clip), frames=30, replay_of=sid)
    with SessionStore(db) as st:
        st.add_bookmark(sid, "stutter here", frame_i=120, ts=None)
    full = d / "full.dlbundle"
    bare = d / "bare.dlbundle"
    with SessionStore(db) as st:
        export_bundle(st, sid, full, with_package=True, with_input=True)
        export_bundle(st, sid, bare)
        export_bundle(st, replay, d / "replay.dlbundle")
    shutil.rmtree(files)  # the colleague has none of the customer's files
    return {"db": db, "id": sid, "replay": replay, "full": full, "bare": bare,
            "replay_bundle": d / "replay.dlbundle", "dir": d}


def test_bundle_contents(customer: dict[str, Any]) -> None:
    info = read_bundle_info(customer["full"])
    assert info.has_package and info.has_input
    with SessionStore(customer["db"]) as st:
        s = st.get_session(customer["id"])
        assert info.uuid == s["uuid"] and info.counts["frames"] == st.frame_count(s["id"])
    with zipfile.ZipFile(customer["full"]) as zf:
        names = set(zf.namelist())
        meta = json.loads(zf.read("bundle.json"))
        for name, digest in meta["files"].items():
            assert hashlib.sha256(zf.read(name)).hexdigest() == digest
        session = json.loads(zf.read("session.json"))
    assert {"session.json", "frames.jsonl", "package.zip", "input/customer-clip.avi",
            "truth.csv"} <= names
    # local bookkeeping never travels
    assert "id" not in session and "console_pid" not in session
    bare = read_bundle_info(customer["bare"])
    assert not bare.has_package and not bare.has_input
    with zipfile.ZipFile(customer["bare"]) as zf:
        assert not any(n.startswith("input/") or n == "package.zip" for n in zf.namelist())


def test_import_is_exact_and_idempotent(customer: dict[str, Any], tmp_path: Path) -> None:
    mine = tmp_path / "mine.db"
    with SessionStore(mine) as st:
        res = import_bundle(st, customer["full"])
        assert not res.already_present
        with SessionStore(customer["db"]) as src:
            a = src.get_session(customer["id"])
            for t in TABLES:
                assert rows(src, a["id"], t) == rows(st, res.session_id, t), t
        b = st.get_session(res.session_id)
        assert b["uuid"] == a["uuid"] == res.uuid
        for k in ("summary", "settings", "device_facts", "package_digest", "input_sha256",
                  "status", "note", "tags", "started_at", "cold_start", "package_manifest"):
            assert a[k] == b[k], k
        assert res.package_path == imported_dir(mine, res.uuid) / "package.zip"
        assert res.input_path is not None and res.input_path.name == "customer-clip.avi"
        before = {t: st.conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                  for t in ("sessions", *TABLES)}
        again = import_bundle(st, customer["full"])
        assert again.already_present and again.session_id == res.session_id
        after = {t: st.conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                 for t in ("sessions", *TABLES)}
        assert before == after


def test_imported_session_replays_from_bundled_files(customer: dict[str, Any],
                                                     tmp_path: Path) -> None:
    mine = tmp_path / "mine.db"
    with SessionStore(mine) as st:
        sid = import_bundle(st, customer["full"]).session_id
        plan = plan_replay(st, sid)
    folder = imported_dir(mine, plan.original_uuid)
    assert Path(plan.package_path) == folder / "package.zip"
    assert plan.input_spec == str((folder / "input" / "customer-clip.avi").resolve())
    assert plan.request.truth == str(folder / "truth.csv")
    result = Run(LocalDevice(), plan.request, mine).execute()
    assert result.status == "completed", result.error
    with SessionStore(mine) as st:
        a, b = st.get_session(sid), st.get_session(result.session_id)
    assert b["replay_of"] == sid
    assert (a["package_digest"], a["input_sha256"]) == (b["package_digest"], b["input_sha256"])
    assert b["summary"]["accuracy"] == a["summary"]["accuracy"]


def test_bare_bundle_then_full_bundle(customer: dict[str, Any], tmp_path: Path) -> None:
    """Rows first, files later: the second import adds the files and changes no row."""
    mine = tmp_path / "mine.db"
    with SessionStore(mine) as st:
        first = import_bundle(st, customer["bare"])
        assert first.package_path is None
        with pytest.raises(Exception, match="not found"):
            plan_replay(st, first.session_id)
        second = import_bundle(st, customer["full"])
        assert second.already_present and second.session_id == first.session_id
        assert second.package_path is not None
        assert plan_replay(st, first.session_id).original_id == first.session_id


def test_replay_link_travels_by_uuid(customer: dict[str, Any], tmp_path: Path) -> None:
    with SessionStore(tmp_path / "a.db") as st:
        lone = import_bundle(st, customer["replay_bundle"])
        assert st.get_session(lone.session_id)["replay_of"] is None  # original not in this log
    with SessionStore(tmp_path / "b.db") as st:
        add_session(st, status="completed")  # ids in this log differ from the customer's
        add_session(st, status="completed")
        orig = import_bundle(st, customer["bare"])
        linked = import_bundle(st, customer["replay_bundle"])
        assert orig.session_id != customer["id"]
        assert st.get_session(linked.session_id)["replay_of"] == orig.session_id


def _rewrite(src: Path, dst: Path, change: Any, fix_hashes: bool) -> Path:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        meta = json.loads(zin.read("bundle.json"))
        for name in zin.namelist():
            if name == "bundle.json":
                continue
            data = change(name, zin.read(name))
            if fix_hashes:
                meta["files"][name] = hashlib.sha256(data).hexdigest()
            zout.writestr(name, data)
        zout.writestr("bundle.json", json.dumps(meta))
    return dst


def test_a_format_1_bundle_imports_with_read_times_unknown(customer: dict[str, Any],
                                                            tmp_path: Path) -> None:
    """Bundles written before frames carried ``read_ms`` (format /1, nine values per
    frame row) still import; the read time is unknown (NULL), everything else exact."""
    with SessionStore(customer["db"]) as src:
        have = src.conn.execute("SELECT COUNT(*) FROM frames WHERE session_id=? AND read_ms "
                                "IS NOT NULL", [customer["id"]]).fetchone()[0]
    assert have > 0  # the real agent measured it, and format /2 carries it

    def old(name: str, data: bytes) -> bytes:
        if name != "frames.jsonl":
            return data
        return b"\n".join(json.dumps(json.loads(ln)[:9]).encode()
                          for ln in data.splitlines() if ln.strip()) + b"\n"

    v1 = tmp_path / "v1.dlbundle"
    with zipfile.ZipFile(customer["bare"]) as zin, zipfile.ZipFile(v1, "w") as zout:
        meta = json.loads(zin.read("bundle.json"))
        for name in zin.namelist():
            if name != "bundle.json":
                data = old(name, zin.read(name))
                meta["files"][name] = hashlib.sha256(data).hexdigest()
                zout.writestr(name, data)
        zout.writestr("bundle.json", json.dumps({**meta, "format": "devicelab-bundle/1"}))
    with SessionStore(tmp_path / "mine.db") as st:
        res = import_bundle(st, v1)
        got = rows(st, res.session_id, "frames")
        with SessionStore(customer["db"]) as src:
            want = rows(src, customer["id"], "frames")
        assert [r[:9] for r in got] == [r[:9] for r in want]
        assert all(r[9] is None for r in got)


def test_damaged_bundles_are_refused(customer: dict[str, Any], tmp_path: Path) -> None:
    def flip(name: str, data: bytes) -> bytes:
        return data.replace(b"stutter", b"STUTTER") if name == "bookmarks.jsonl" else data

    bad = _rewrite(customer["bare"], tmp_path / "bad.dlbundle", flip, fix_hashes=False)
    with SessionStore(tmp_path / "mine.db") as st:
        with pytest.raises(BundleError, match=r"bookmarks\.jsonl does not match its sha256"):
            import_bundle(st, bad)
        notzip = tmp_path / "notes.txt"
        notzip.write_text("hello")
        with pytest.raises(BundleError, match="not a devicelab session bundle"):
            import_bundle(st, notzip)
        with pytest.raises(BundleError, match="not found"):
            import_bundle(st, tmp_path / "missing.dlbundle")
        assert st.conn.execute("SELECT COUNT(*) FROM sessions").fetchone()[0] == 0


def _garble_deflate(src: Path, dst: Path, member: str) -> Path:
    """``src`` with bytes inside ``member``'s deflate stream flipped: the zip's headers
    and directory intact, the compressed data not (a disk or a transfer that went bad)."""
    with zipfile.ZipFile(src) as zf:
        info = zf.getinfo(member)
    assert info.compress_type == zipfile.ZIP_DEFLATED and info.compress_size > 400
    data = bytearray(src.read_bytes())
    start = info.header_offset + 30 + len(info.filename.encode()) + len(info.extra)
    for k in range(start + 60, start + 120):
        data[k] ^= 0x5A
    dst.write_bytes(bytes(data))
    return dst


@pytest.mark.parametrize("name", ["frames.jsonl", "bundle.json"])
def test_a_bundle_with_a_damaged_deflate_stream_is_refused_in_one_line(
        customer: dict[str, Any], tmp_path: Path, name: str) -> None:
    """zlib's own error (not the zip's CRC) once came out as 'internal error'."""
    bad = _garble_deflate(customer["full"], tmp_path / "bad.dlbundle", name)
    with SessionStore(tmp_path / "mine.db") as st:
        with pytest.raises(BundleError, match=rf"is damaged: {name} unreadable \(Error -3"):
            import_bundle(st, bad)
        assert st.conn.execute("SELECT COUNT(*) FROM sessions").fetchone()[0] == 0


def test_path_tricks_in_a_bundle_are_refused(customer: dict[str, Any], tmp_path: Path) -> None:
    def evil(name: str, data: bytes) -> bytes:
        if name == "session.json":
            row = json.loads(data)
            row["uuid"] = "../../../etc"
            return json.dumps(row).encode()
        return data

    bad = _rewrite(customer["bare"], tmp_path / "evil.dlbundle", evil, fix_hashes=True)
    with SessionStore(tmp_path / "mine.db") as st, \
            pytest.raises(BundleError, match="bad session uuid"):
        import_bundle(st, bad)
    assert not (tmp_path / "etc").exists()


def test_import_is_one_transaction(customer: dict[str, Any], tmp_path: Path) -> None:
    """A row the log refuses (NULL frame time) leaves no partial session behind."""
    def broken(name: str, data: bytes) -> bytes:
        if name == "frames.jsonl":
            lines = data.splitlines()
            row = json.loads(lines[-1])
            row[1] = None
            lines[-1] = json.dumps(row).encode()
            return b"\n".join(lines) + b"\n"
        return data

    bad = _rewrite(customer["bare"], tmp_path / "broken.dlbundle", broken, fix_hashes=True)
    with SessionStore(tmp_path / "mine.db") as st:
        with pytest.raises(BundleError, match="nothing was imported"):
            import_bundle(st, bad)
        for t in ("sessions", *TABLES):
            assert st.conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0] == 0, t


def test_bundle_refuses_a_changed_package(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    shutil.copytree(PKG, pkg)
    db = tmp_path / "s.db"
    sid = record(db, pkg, "synthetic:32x32", frames=10)
    mf = pkg / "manifest.json"
    m = json.loads(mf.read_text())
    m["description"] = "edited after the run"
    mf.write_text(json.dumps(m))
    with SessionStore(db) as st:
        with pytest.raises(ExportError, match=r"cannot bundle session .*manifest\.json sha256"):
            export_bundle(st, sid, tmp_path / "b.dlbundle", with_package=True)
        res = export_bundle(st, sid, tmp_path / "b.dlbundle", with_input=True)
    assert "live synthetic" in res.notes[0]
    assert not list(tmp_path.glob(".b.dlbundle*"))


def test_delete_keeps_the_log_consistent(customer: dict[str, Any], tmp_path: Path) -> None:
    mine = tmp_path / "mine.db"
    with SessionStore(mine) as st:
        orig = import_bundle(st, customer["full"])
        replay = import_bundle(st, customer["replay_bundle"])
        assert st.get_session(replay.session_id)["replay_of"] == orig.session_id
        keep = add_session(st, status="completed")
        st.add_bookmark(keep, "kept")
        res = delete_session(st, orig.session_id)
        assert res.removed_files and res.unlinked_replays == [replay.session_id]
        assert st.get_session(orig.session_id) is None
        for t in TABLES:
            n = st.conn.execute(f"SELECT COUNT(*) FROM {t} WHERE session_id=?",
                                [orig.session_id]).fetchone()[0]
            assert n == 0, t
        assert st.get_session(replay.session_id)["replay_of"] is None
        assert st.bookmarks(keep)[0]["note"] == "kept"
        assert st.integrity_check() == "ok"
        assert st.conn.execute("PRAGMA foreign_key_check").fetchall() == []
        assert not imported_dir(mine, orig.uuid).exists()
        with pytest.raises(BundleError, match="no session"):
            delete_session(st, orig.session_id)


def test_delete_refuses_a_session_being_recorded(db_path: Path) -> None:
    with SessionStore(db_path) as st:
        sid = add_session(st)  # "running", owned by this (live) process
        with pytest.raises(BundleError, match="still recording"):
            delete_session(st, sid)
        assert st.get_session(sid) is not None
