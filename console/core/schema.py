"""The session log's one schema: tables, columns (type, unit, meaning), views and
the numbered migrations that build it, for SQLite and for PostgreSQL alike.

Nothing here talks to a database. A migration is a list of operations (written in the
vocabulary of :mod:`console.core.ddl`) on a
model of the schema (create a table, add or rename a column, make an index or
a view); :class:`Dialect` renders each operation as the DDL of one engine, and
:func:`current` replays every migration on an empty model to give the schema as
it is now — what ``docs/schema.md`` is generated from (``tools/schema_doc.py``;
a test fails when the two differ) and what a fresh database is built by.

Migrations are history: they name columns literally, as they were called at
that version. The code that reads and writes rows takes today's names from
``console.core.protocol`` (``FRAME_FIELDS``, ``TELEMETRY_FIELDS``) and from the
tables below; a test checks the two agree. Column names carry their units
(``e2e_ms``, ``rss_mib``, ``cpu_agent_pct_core``, ``started_unix_s``).
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Sequence

from console.core import protocol as P
from console.core.ddl import (  # noqa: F401  (re-exported: the schema's vocabulary)
    INTEGER,
    REAL,
    TEXT,
    AddColumn,
    CheckReferencePerStatement,
    Column,
    CreateIndex,
    CreateTable,
    CreateView,
    Dialect,
    DropIndex,
    DropView,
    Index,
    Migration,
    Model,
    Operation,
    PostgresDialect,
    RenameColumn,
    SQLiteDialect,
    Table,
    View,
)


# -- history ---------------------------------------------------------------------------
def _c(name: str, type_: str, unit: str = "", doc: str = "", **kw: object) -> Column:
    return Column(name, type_, unit, doc, **kw)  # type: ignore[arg-type]


_SESSION_FK = "sessions(id)"

_V1_SESSIONS = Table("sessions", "one row a run", (
    _c("id", INTEGER, doc="session id (what `devicelab sessions show ID` takes)"),
    _c("uuid", TEXT, doc="globally unique id (bundles and push/pull match on it)",
       not_null=True),
    _c("created_at", REAL, "s", "row created", not_null=True),
    _c("started_at", REAL, "s", "run started"),
    _c("ended_at", REAL, "s", "run ended"),
    _c("status", TEXT, doc="running | completed | stopped | failed | interrupted",
       not_null=True),
    _c("error", TEXT, doc="why it did not complete (one line), NULL when it did"),
    _c("device_kind", TEXT, doc="local | ssh"),
    _c("device_address", TEXT, doc="canonical address (ssh://user@host:port, local)"),
    _c("device_name", TEXT, doc="saved name or what the user typed"),
    _c("device_identity", TEXT, doc="JSON: what makes the device this device (host key "
       "fingerprint, machine id)"),
    _c("device_facts", TEXT, doc="JSON: OS, kernel, CPU, RAM, Python and library versions "
       "as the agent found them"),
    _c("package_name", TEXT, doc="the manifest's name"),
    _c("package_version", TEXT, doc="the manifest's version"),
    _c("package_digest", TEXT, doc="sha256 of manifest.json: the package's identity"),
    _c("package_model_sha256", TEXT, doc="sha256 of the model file"),
    _c("package_source", TEXT, doc="absolute path of the package on the console"),
    _c("package_manifest", TEXT, doc="JSON: the manifest and its summary"),
    _c("package_signer", TEXT, doc="name of the trusted key that signed it, NULL unsigned"),
    _c("input_kind", TEXT, doc="file | camera | stream | synthetic"),
    _c("input_desc", TEXT, doc="the input as given, passwords redacted"),
    _c("input_sha256", TEXT, doc="sha256 of a recorded input file"),
    _c("input_info", TEXT, doc="JSON: path, frames, size, fps of the input"),
    _c("settings", TEXT, doc="JSON: every run setting (frames, fps, threads, budgets, ...)"),
    _c("provider", TEXT, doc="execution provider / runtime device that ran the model"),
    _c("cold_start", TEXT, doc="JSON: cold-start parts in ms"),
    _c("summary", TEXT, doc="JSON: the run summary (console.core.stats.summarize)"),
    _c("frames_received", INTEGER, doc="frames recorded", default=0),
    _c("console_version", TEXT, doc="version of the console that recorded it"),
    _c("agent_version", TEXT, doc="version of the agent that ran it"),
    _c("protocol_version", INTEGER, doc="agent protocol version spoken"),
    _c("note", TEXT, doc="free text; #words in it are tags"),
    _c("tags", TEXT, doc="JSON list of tags"),
    _c("replay_of", INTEGER, doc="the session this one replays"),
    _c("console_pid", INTEGER, doc="process id of the console that recorded it"),
    _c("console_host", TEXT, doc="host name of that console"),
    _c("console_started", REAL, doc="start time of that process (clock ticks since boot; "
       "tells a reused pid apart)"),
), primary_key=("id",))

_V1_FRAMES = Table("frames", "one row a frame", (
    _c("session_id", INTEGER, not_null=True, references=_SESSION_FK),
    _c("i", INTEGER, not_null=True), _c("ts", REAL, not_null=True),
    _c("pre", REAL), _c("infer", REAL), _c("post", REAL), _c("e2e", REAL),
    _c("top1", INTEGER), _c("top1_score", REAL),
    _c("out", TEXT, doc="JSON: the decoded outputs (top-k classes, boxes, or shapes)"),
), primary_key=("session_id", "i"), without_rowid=True)

_V1_TELEMETRY = Table("telemetry", "one row a telemetry sample", (
    _c("session_id", INTEGER, not_null=True, references=_SESSION_FK),
    _c("ts", REAL, not_null=True), _c("cpu_sys", REAL), _c("cpu_agent", REAL),
    _c("rss_mb", REAL), _c("mem_used_mb", REAL), _c("mem_total_mb", REAL),
    _c("temp_max_c", REAL), _c("power_w", REAL), _c("sampler_cpu", REAL),
    _c("sample", TEXT),
))

_V1_EVENTS = Table("events", "agent and console events, warnings and errors", (
    _c("session_id", INTEGER, not_null=True, references=_SESSION_FK),
    _c("ts", REAL, not_null=True), _c("level", TEXT, not_null=True),
    _c("code", TEXT, doc="machine-readable kind (cold_start, link_lost, package, ...)"),
    _c("text", TEXT, doc="the line a user reads"),
))

_V1_BOOKMARKS = Table("bookmarks", "notes on a moment of a session", (
    _c("id", INTEGER, doc="bookmark id"),
    _c("session_id", INTEGER, not_null=True, references=_SESSION_FK),
    _c("frame_i", INTEGER, doc="the frame marked"), _c("ts", REAL),
    _c("note", TEXT, doc="what the user wrote"), _c("created_at", REAL),
), primary_key=("id",))


def _v3_renames() -> tuple[Operation, ...]:
    """Today's names, with units. Frame and telemetry columns come from the protocol's
    field table (the one place they are named) as it was at v3."""
    ren: list[Operation] = [
        RenameColumn("sessions", "created_at", _c("created_unix_s", REAL, "s", "row created "
                     "(Unix time, UTC)", not_null=True)),
        RenameColumn("sessions", "started_at", _c("started_unix_s", REAL, "s",
                     "run started (Unix time, UTC)")),
        RenameColumn("sessions", "ended_at", _c("ended_unix_s", REAL, "s",
                     "run ended (Unix time, UTC)")),
        RenameColumn("sessions", "console_started", _c("console_started_ticks", REAL,
                     "clock ticks", "start time of the recording console process (since "
                     "boot; tells a reused pid apart)")),
        RenameColumn("events", "ts", _c("ts_unix_s", REAL, "s", "when (Unix time, UTC)",
                     not_null=True)),
        RenameColumn("bookmarks", "ts", _c("ts_unix_s", REAL, "s", "the moment marked "
                     "(device clock, Unix time)")),
        RenameColumn("bookmarks", "created_at", _c("created_unix_s", REAL, "s",
                     "when the bookmark was made")),
        RenameColumn("telemetry", "ts", _c("ts_unix_s", REAL, "s", "device wall clock of "
                     "the sample (Unix time)", not_null=True)),
        RenameColumn("telemetry", "power_w", _c("power_max_w", REAL, "W",
                     "largest power reading of the sample")),
        RenameColumn("telemetry", "sample", _c("sample_json", TEXT, "",
                     "JSON: the full sample as the agent sent it")),
        RenameColumn("telemetry", "temp_max_c", _c("temp_max_c", REAL, "°C",
                     "hottest thermal zone of the sample")),
    ]
    for f in (*P.FRAME_FIELDS, *P.FRAME_DERIVED):  # a name kept as it was: documents it
        type_ = INTEGER if f.wire in ("i", "top1") else REAL
        ren.append(RenameColumn("frames", f.wire, _c(f.column, type_, f.unit, f.doc,
                                                     not_null=f.wire in ("i", "ts"))))
    for f in P.TELEMETRY_FIELDS:
        if f.wire in ("mem_avail_mb",):
            continue  # never had a column of its own (it stays in sample_json)
        ren.append(RenameColumn("telemetry", f.wire, _c(f.column, REAL, f.unit, f.doc)))
    return tuple(ren)


#: Per-stage percentiles copied out of the summary JSON into real columns.
HEADLINE_PERCENTILES = ("p50", "p95", "p99")


def headline_columns() -> tuple[Column, ...]:
    """The summary's headline figures as real columns of ``sessions`` (outside tools
    read columns, not JSON): written by the store whenever a summary is."""
    cols = [_c(f"{stage}_{p}_ms", REAL, "ms", f"{stage} latency {p} (steady state)")
            for stage in P.STAGES for p in HEADLINE_PERCENTILES]
    cols += [
        _c("fps", REAL, "frames/s", "frames per second over the run"),
        _c("duration_s", REAL, "s", "first to last frame"),
        _c("cold_start_ms", REAL, "ms", "package check + session + first inference"),
        _c("accuracy_top1", REAL, "", "top-1 accuracy against ground truth, 0..1"),
        _c("cpu_agent_mean_pct_core", REAL, "% of one core", "agent CPU, mean"),
        _c("cpu_sys_mean_pct", REAL, "%", "system CPU, mean, % of all cores"),
        _c("rss_peak_mib", REAL, "MiB", "agent resident memory, peak"),
        _c("temp_max_c", REAL, "°C", "hottest thermal zone during the run"),
        _c("energy_per_inference_mj", REAL, "mJ", "energy per inference"),
    ]
    return tuple(cols)


def _sessions_overview(d: Dialect) -> str:
    figs = ", ".join(c.name for c in headline_columns())
    return (f"SELECT id, uuid, status, {d.iso_utc('started_unix_s')} AS started_utc, "
            f"started_unix_s, ended_unix_s, device_name, device_address, device_kind, "
            f"package_name, package_version, package_digest, runtime, runtime_version, "
            f"provider, input_kind, input_desc, frames_received, {figs}, plan_run_id, note "
            f"FROM sessions")


def _frames_with_session(d: Dialect) -> str:
    fcols = ", ".join(f"f.{c}" for c in (*(x.column for x in P.FRAME_FIELDS),
                                         *(x.column for x in P.FRAME_DERIVED)))
    return (f"SELECT f.session_id, {fcols}, {d.iso_utc('f.ts_unix_s')} AS ts_utc, "
            "s.uuid AS session_uuid, s.device_name, s.package_name, s.package_version, "
            "s.runtime, s.input_desc FROM frames f JOIN sessions s ON s.id = f.session_id")


VIEWS = (
    View("sessions_overview", "one row per session with its headline figures as columns "
         "(no JSON)", _sessions_overview,
         (("started_utc", "", "run start as ISO-8601 UTC text"),
          ("…", "", "the headline columns of sessions (per-stage p50/p95/p99, fps, ...)"))),
    View("frames_with_session", "every frame with the session it belongs to",
         _frames_with_session,
         (("ts_utc", "", "frame time as ISO-8601 UTC text"),
          ("session_uuid, device_name, package_*, runtime, input_desc", "",
           "from the session"))),
)

PLAN_RUNS = Table("plan_runs", "one row a test-plan run (devicelab plan run)", (
    _c("id", INTEGER, doc="plan run id"),
    _c("uuid", TEXT, doc="globally unique id", not_null=True),
    _c("name", TEXT, doc="the plan's name"),
    _c("plan_path", TEXT, doc="the plan file, absolute"),
    _c("plan_text", TEXT, doc="the plan file's text as run"),
    _c("plan_sha256", TEXT, doc="sha256 of that text"),
    _c("started_unix_s", REAL, "s", "plan started"),
    _c("ended_unix_s", REAL, "s", "plan ended"),
    _c("status", TEXT, doc="running | passed | failed | incomplete | stopped"),
    _c("exit_code", INTEGER, doc="the exit status `plan run` returned"),
    _c("console_version", TEXT, doc="version of the console that ran it"),
    _c("console_host", TEXT, doc="host name of that console"),
    _c("console_pid", INTEGER, doc="its process id"),
), primary_key=("id",))

PLAN_CELLS = Table("plan_cells", "one row a cell of a plan run (device × package × input "
                   "× setting)", (
    _c("plan_run_id", INTEGER, not_null=True, references="plan_runs(id)"),
    _c("idx", INTEGER, doc="cell number in the plan", not_null=True),
    _c("device", TEXT, doc="the device as the plan names it"),
    _c("package", TEXT, doc="the package path as the plan names it"),
    _c("input", TEXT, doc="the input as the plan names it"),
    _c("settings_json", TEXT, doc="JSON: the cell's run settings"),
    _c("session_id", INTEGER, doc="the cell's session (NULL: not run)"),
    _c("verdict", TEXT, doc="pending | pass | fail | not run"),
    _c("reason", TEXT, doc="one line: why that verdict"),
    _c("checks_json", TEXT, doc="JSON: each budget / baseline check with its figures"),
), primary_key=("plan_run_id", "idx"))

SWEEPS = Table("sweeps", "one row a settings sweep (devicelab sweep)", (
    _c("id", INTEGER, doc="sweep id"),
    _c("uuid", TEXT, not_null=True),
    _c("device", TEXT, doc="the device swept"), _c("package", TEXT, doc="the package"),
    _c("input", TEXT, doc="the input"),
    _c("objective", TEXT, doc="p95 | fps | energy"),
    _c("grid_json", TEXT, doc="JSON: the settings swept"),
    _c("started_unix_s", REAL, "s", "sweep started"),
    _c("ended_unix_s", REAL, "s", "sweep ended"),
    _c("status", TEXT, doc="running | completed | stopped | failed"),
    _c("result_json", TEXT, doc="JSON: ranking, best setting and its indistinguishable "
       "group"),
    _c("saved", INTEGER, doc="1 when the winner was saved as the device's default"),
), primary_key=("id",))

OP_PROFILES = Table("op_profiles", "per-operator profile of a session (run --profile N)", (
    _c("session_id", INTEGER, not_null=True, references=_SESSION_FK),
    _c("node", TEXT, doc="node/layer name in the model", not_null=True),
    _c("op_type", TEXT, doc="operator type (Conv, MatMul, ...)"),
    _c("device", TEXT, doc="execution provider / device that ran it"),
    _c("calls", INTEGER, doc="times it ran over the profiled frames"),
    _c("total_us", REAL, "µs", "time in it over the profiled frames"),
    _c("mean_us", REAL, "µs", "per call"),
    _c("share", REAL, "", "fraction of the profiled inference time, 0..1"),
), primary_key=("session_id", "node"))

MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "sessions, frames, telemetry, events, bookmarks", (
        CreateTable(_V1_SESSIONS),
        CreateIndex(Index("idx_sessions_uuid", "sessions", ("uuid",), unique=True)),
        CreateIndex(Index("idx_sessions_started_at", "sessions", ("started_at",))),
        CreateTable(_V1_FRAMES),
        CreateTable(_V1_TELEMETRY),
        CreateIndex(Index("telemetry_session", "telemetry", ("session_id", "ts"))),
        CreateTable(_V1_EVENTS),
        CreateIndex(Index("events_session", "events", ("session_id", "ts"))),
        CreateTable(_V1_BOOKMARKS),
    )),
    Migration(2, "per-frame source read time", (
        AddColumn("frames", _c("read_ms", REAL, "ms", "decode/capture time before pre "
                               "(outside e2e); NULL when the agent did not report it")),
    )),
    Migration(3, "names carry units; headline figures as columns; runtimes; plan runs, "
                 "sweeps, operator profiles; views; paged listing", (
        *_v3_renames(),
        AddColumn("sessions", _c("runtime", TEXT, doc="onnxruntime | litert | openvino")),
        AddColumn("sessions", _c("runtime_version", TEXT, doc="the runtime's version on the "
                                 "device")),
        AddColumn("sessions", _c("plan_run_id", INTEGER, doc="the plan run this session is "
                                 "a cell of")),
        AddColumn("sessions", _c("sweep_id", INTEGER, doc="the sweep this session is part "
                                 "of")),
        AddColumn("sessions", _c("agent_sent", INTEGER, doc="frames the agent said it sent "
                                 "(its summary); more than frames_received means frames lost")),
        *(AddColumn("sessions", c) for c in headline_columns()),
        CreateIndex(Index("sessions_created", "sessions", ("created_unix_s DESC", "id DESC"))),
        CreateIndex(Index("sessions_plan", "sessions", ("plan_run_id",))),
        CreateTable(PLAN_RUNS),
        CreateIndex(Index("plan_runs_uuid", "plan_runs", ("uuid",), unique=True)),
        CreateTable(PLAN_CELLS),
        CreateTable(SWEEPS),
        CreateIndex(Index("sweeps_uuid", "sweeps", ("uuid",), unique=True)),
        CreateTable(OP_PROFILES),
        *(CreateView(v) for v in VIEWS),
    )),
    Migration(4, "operator profiles: run order, and how the profile was taken", (
        AddColumn("op_profiles", _c("run_order", INTEGER, doc="where the operator first ran "
                                    "within one inference, 0 first (the trace's order)")),
        AddColumn("sessions", _c("profile", TEXT, doc="JSON: the operator profile's "
                                 "runtime, status (ok | partial | unavailable), the line "
                                 "saying how it was taken, first_frame, frames, infer_ms")),
    )),
    Migration(5, "frames keep their session reference with one check per insert statement "
                 "on PostgreSQL (its per-row foreign-key check cost 4x the row's COPY)", (
        CheckReferencePerStatement("frames", "session_id"),
    )),
    Migration(6, "a session's identical sessions (same package on the same input) found by "
                 "index: every comparison looks them up to measure the device's spread", (
        CreateIndex(Index("sessions_same_run", "sessions", ("package_digest", "input_sha256"))),
    )),
)

SCHEMA_VERSION = MIGRATIONS[-1].version


def current(upto: int = SCHEMA_VERSION) -> Model:
    """The schema after every migration up to ``upto``."""
    m = Model()
    for mig in MIGRATIONS:
        if mig.version > upto:
            break
        for op in mig.operations:
            m.apply(op)
    return m


def migration_sql(dialect: Dialect, from_version: int, to_version: int = SCHEMA_VERSION
                  ) -> list[tuple[int, list[str]]]:
    """(version, statements) for each migration after ``from_version``."""
    model = current(from_version)
    out: list[tuple[int, list[str]]] = []
    for mig in MIGRATIONS:
        if mig.version <= from_version or mig.version > to_version:
            continue
        stmts: list[str] = []
        for op in mig.operations:
            stmts += dialect.render(op, model)
            model.apply(op)
        out.append((mig.version, stmts))
    return out


@functools.cache
def column_names(table: str) -> tuple[str, ...]:
    """Today's columns of ``table`` (replaying the migrations once a process: a row
    check per written session must not cost a replay, measured at 4 ms here)."""
    return current().tables[table].names


def names_in(table: str, wanted: Iterable[str]) -> list[str]:
    """``wanted`` minus what ``table`` does not have (a typo in code fails a test)."""
    have = set(column_names(table))
    return [w for w in wanted if w in have]


def check_names(table: str, names: Sequence[str]) -> None:
    have = set(column_names(table))
    missing = [n for n in names if n not in have]
    if missing:
        raise KeyError(f"{table} has no columns {missing}")


def renames_after(version: int) -> dict[str, dict[str, str]]:
    """{table: {name at ``version``: name today}} for every column renamed since, so rows
    written by an older console (bundles, exports) map onto today's columns."""
    out: dict[str, dict[str, str]] = {}
    for mig in MIGRATIONS:
        if mig.version <= version:
            continue
        for op in mig.operations:
            if isinstance(op, RenameColumn) and op.old != op.column.name:
                table = out.setdefault(op.table, {})
                for k, v in list(table.items()):  # a column renamed twice
                    if v == op.old:
                        table[k] = op.column.name
                table.setdefault(op.old, op.column.name)
    return out
