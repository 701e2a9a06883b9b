"""``devicelab sessions …`` as a user runs it: the real command in a subprocess."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from helpers.recording import DEVICELAB, PKG, PKG_INT8, VIDEO, copy_db

from console.core.store import SessionStore
from console.devices.base import AgentOptions
from console.devices.local import LocalDevice
from console.session.run import Run, RunRequest

SUBCOMMANDS = ("list", "show", "bookmark", "replay", "compare", "matrix", "export", "import",
               "delete")


def dl(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    res = subprocess.run([DEVICELAB, *args], capture_output=True, text=True, timeout=timeout,
                         stdin=subprocess.DEVNULL)
    assert "Traceback" not in res.stdout + res.stderr
    return res


def one_error_line(res: subprocess.CompletedProcess[str]) -> str:
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert lines[0].startswith("devicelab: error: ")
    return lines[0]


@pytest.fixture(scope="module")
def log(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    d = tmp_path_factory.mktemp("cli")
    db = d / "sessions.db"
    ids = []
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DEVICELAB_HOME", str(d / "home"))
        for pkg in (PKG, PKG_INT8):
            opts = AgentOptions(fps=400, telemetry_ms=20, preview_fps=0)
            res = Run(LocalDevice(), RunRequest(str(pkg), str(VIDEO), opts), db).execute()
            assert res.status == "completed", res.error
            ids.append(res.session_id)
    return {"db": db, "a": ids[0], "b": ids[1]}


@pytest.mark.parametrize("sub", SUBCOMMANDS)
def test_every_sessions_command_has_help_with_example(sub: str) -> None:
    res = dl("sessions", sub, "--help")
    assert res.returncode == 0 and "example" in res.stdout


def test_bookmarks_by_frame_and_time(log: dict[str, Any], tmp_path: Path) -> None:
    db = str(copy_db(log["db"], tmp_path / "s.db"))
    sid = str(log["a"])
    res = dl("sessions", "bookmark", sid, "--frame", "42", "--note", "odd digit", "--db", db)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith(f"bookmark 1 on session {sid} at frame 42, ")
    res = dl("sessions", "bookmark", sid, "--time", "0.05", "--note", "early", "--db", db)
    assert res.returncode == 0, res.stderr
    with SessionStore(db) as st:
        marks = st.bookmarks(log["a"])
        t0 = st.conn.execute("SELECT MIN(ts_unix_s) FROM frames WHERE session_id=?",
                             [log["a"]]).fetchone()[0]
        shown = st.conn.execute("SELECT MAX(i) FROM frames WHERE session_id=? AND ts_unix_s <= ?",
                                [log["a"], t0 + 0.05]).fetchone()[0]
    by_note = {m["note"]: m for m in marks}
    assert by_note["odd digit"]["frame_i"] == 42
    assert by_note["early"]["ts"] == pytest.approx(t0 + 0.05)
    assert by_note["early"]["frame_i"] == shown
    show = dl("sessions", "show", sid, "--db", db)
    assert "frame 42: odd digit" in show.stdout
    bad = dl("sessions", "bookmark", sid, "--frame", "99999", "--note", "x", "--db", db)
    assert bad.returncode == 2 and "frame 99999 is not one of them" in one_error_line(bad)
    empty = dl("sessions", "bookmark", sid, "--frame", "1", "--note", "  ", "--db", db)
    assert empty.returncode == 2 and "--note is empty" in one_error_line(empty)
    neither = dl("sessions", "bookmark", sid, "--note", "x", "--db", db)
    assert neither.returncode == 2


def test_compare_outputs(log: dict[str, Any], tmp_path: Path) -> None:
    db = str(log["db"])
    a, b = str(log["a"]), str(log["b"])
    out = tmp_path / "cmp.html"
    res = dl("sessions", "compare", a, b, "-o", str(out), "--db", db)
    assert res.returncode == 0, res.stderr
    assert out.is_file() and "<svg" in out.read_text()
    assert f"wrote {out}" in res.stderr
    js = dl("sessions", "compare", a, b, "--json", "--db", db)
    doc = json.loads(js.stdout)
    assert doc["a"]["id"] == log["a"] and doc["agreement"]["available"]
    bad = dl("sessions", "compare", a, b, "-o", str(tmp_path / "cmp.txt"), "--db", db)
    assert bad.returncode == 2 and "html or json" in one_error_line(bad)
    missing = dl("sessions", "compare", a, "999", "--db", db)
    assert missing.returncode == 2 and "no session '999'" in one_error_line(missing)
    tol = dl("sessions", "compare", a, b, "--tolerance", "lots", "--db", db)
    assert tol.returncode == 2 and "bad tolerance" in one_error_line(tol)


@pytest.mark.parametrize("fmt, name", [("csv", "run.csv"), ("json", "run.json"),
                                       ("html", "run.html"), ("mcap", "run.mcap"),
                                       ("bundle", "run.dlbundle")])
def test_export_formats(log: dict[str, Any], tmp_path: Path, fmt: str, name: str) -> None:
    out = tmp_path / name
    res = dl("sessions", "export", str(log["a"]), "--format", fmt, "-o", str(out), "--db",
             str(log["db"]))
    assert res.returncode == 0, res.stderr
    assert f"wrote {out}" in res.stdout and out.stat().st_size > 0
    with SessionStore(log["db"]) as st:
        assert f"{st.frame_count(log['a'])} frames" in res.stdout


def test_export_refusals(log: dict[str, Any], tmp_path: Path) -> None:
    db = str(log["db"])
    res = dl("sessions", "export", str(log["a"]), "--format", "html", "--with-package", "-o",
             str(tmp_path / "x.html"), "--db", db)
    assert res.returncode == 2 and "only apply to --format bundle" in one_error_line(res)
    res = dl("sessions", "export", "31337", "--format", "json", "-o", str(tmp_path / "x.json"),
             "--db", db)
    assert res.returncode == 2 and "no session '31337'" in one_error_line(res)
    res = dl("sessions", "export", str(log["a"]), "--format", "pdf", "-o", "x.pdf", "--db", db)
    assert res.returncode == 2
    nodb = dl("sessions", "export", "1", "--format", "json", "-o", "x.json", "--db",
              str(tmp_path / "none.db"))
    assert nodb.returncode == 2 and "no session log at" in one_error_line(nodb)


def test_bundle_import_twice_and_delete(log: dict[str, Any], tmp_path: Path) -> None:
    bundle = tmp_path / "run.dlbundle"
    assert dl("sessions", "export", str(log["a"]), "--format", "bundle", "--with-package",
              "--with-input", "-o", str(bundle), "--db", str(log["db"])).returncode == 0
    mine = str(tmp_path / "mine.db")  # a colleague's log that does not exist yet
    res = dl("sessions", "import", str(bundle), "--db", mine)
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("imported session 1 (")
    assert "package kept at" in res.stdout and "recording kept at" in res.stdout
    again = dl("sessions", "import", str(bundle), "--json", "--db", mine)
    assert again.returncode == 0
    doc = json.loads(again.stdout)
    assert doc["already_present"] and doc["session_id"] == 1
    assert len(json.loads(dl("sessions", "list", "--json", "--db", mine).stdout)) == 1
    junk = tmp_path / "junk.dlbundle"
    junk.write_bytes(b"not a zip")
    bad = dl("sessions", "import", str(junk), "--db", mine)
    assert bad.returncode == 2 and "not a devicelab session bundle" in one_error_line(bad)
    # no terminal, no --yes: nothing is deleted
    ask = dl("sessions", "delete", "1", "--db", mine)
    assert ask.returncode == 2 and "pass --yes" in one_error_line(ask)
    assert len(json.loads(dl("sessions", "list", "--json", "--db", mine).stdout)) == 1
    gone = dl("sessions", "delete", "1", "--yes", "--db", mine)
    assert gone.returncode == 0 and "and the files imported with it" in gone.stdout
    assert json.loads(dl("sessions", "list", "--json", "--db", mine).stdout) == []
    assert dl("sessions", "delete", "1", "--yes", "--db", mine).returncode == 2


def test_a_run_given_relative_paths_replays_and_bundles_from_another_folder(
        tmp_path: Path) -> None:
    """The README's own command uses paths relative to the checkout; the session must
    still find its package and ground truth when used from elsewhere, and the note's
    #words must become tags a list can filter on."""
    from helpers.recording import TRUTH

    work = tmp_path / "checkout"
    (work / "pkgs").mkdir(parents=True)
    shutil.copytree(PKG, work / "pkgs" / "digits-cnn")
    shutil.copy(TRUTH, work / "truth.csv")
    db = str(tmp_path / "s.db")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()

    def run_in(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
        res = subprocess.run([DEVICELAB, *args], capture_output=True, text=True, timeout=180,
                             stdin=subprocess.DEVNULL, cwd=cwd)
        assert "Traceback" not in res.stdout + res.stderr
        return res

    first = run_in(work, "run", "--device", "local", "--package", "pkgs/digits-cnn",
                   "--input", str(VIDEO), "--truth", "truth.csv", "--frames", "60",
                   "--note", "customer clip #field #ticket-42", "--db", db)
    assert first.returncode == 0, first.stderr
    with SessionStore(db) as st:
        (s,) = st.list_sessions()
    assert s["tags"] == ["field", "ticket-42"]
    assert Path(s["package_source"]) == (work / "pkgs" / "digits-cnn").resolve()
    assert Path(s["settings"]["truth"]) == (work / "truth.csv").resolve()

    tagged = run_in(elsewhere, "sessions", "list", "--tag", "ticket-42", "--json", "--db", db)
    assert tagged.returncode == 0, tagged.stderr
    assert [r["id"] for r in json.loads(tagged.stdout)] == [s["id"]]

    again = run_in(elsewhere, "sessions", "replay", str(s["id"]), "--db", db)
    assert again.returncode == 0, again.stderr
    with SessionStore(db) as st:
        new = max(r["id"] for r in st.list_sessions())
        r = st.get_session(new)
        assert r["replay_of"] == s["id"] and r["settings"]["truth"] == s["settings"]["truth"]
        assert r["summary"]["accuracy"] is not None  # the ground truth came along

    out = elsewhere / "run.dlbundle"
    shutil.move(str(work / "pkgs" / "digits-cnn"), str(tmp_path / "moved-pkg"))
    gone = run_in(elsewhere, "sessions", "export", str(s["id"]), "--format", "bundle",
                  "--with-package", "-o", str(out), "--db", db)
    assert gone.returncode == 2 and "pass --package" in one_error_line(gone)
    ok = run_in(elsewhere, "sessions", "export", str(s["id"]), "--format", "bundle",
                "--with-package", "--package", str(tmp_path / "moved-pkg"), "-o", str(out),
                "--db", db)
    assert ok.returncode == 0, ok.stderr
    assert out.is_file()


def test_list_shows_each_tag_the_note_does_not_already_show() -> None:
    """A tag is left out only when the note shows it as a whole ``#word``: ``#therm``
    is not in "fan #thermal" (a substring test hid it from ``sessions list``)."""
    from console.session.run import note_with_tags

    assert note_with_tags("fan #thermal", ["thermal", "therm"]) == "fan #thermal #therm"
    assert note_with_tags("", ["field"]) == "#field"
    assert note_with_tags("a long note about the fan", ["fan"], width=6) == "a long #fan"
