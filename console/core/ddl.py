"""The language the session log's schema is written in: columns, tables, indexes,
views, the migration operations on them, and how each engine (SQLite, PostgreSQL) spells
them as DDL. The schema itself — its history of numbered migrations and the tables as
they are now — is :mod:`console.core.schema`; nothing here talks to a database.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import ClassVar

INTEGER, REAL, TEXT = "integer", "real", "text"


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    unit: str = ""
    doc: str = ""
    not_null: bool = False
    default: int | float | str | None = None
    #: "table(column)": a row that goes with its parent (ON DELETE CASCADE)
    references: str | None = None


@dataclass(frozen=True)
class Table:
    name: str
    doc: str
    columns: tuple[Column, ...]
    #: primary key columns; ``("id",)`` on an INTEGER ``id`` makes it the database's own key
    primary_key: tuple[str, ...] = ()
    #: SQLite storage hint for tables keyed by (session, index): no hidden rowid
    without_rowid: bool = False

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.name} has no column {name!r}")

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)


@dataclass(frozen=True)
class Index:
    name: str
    table: str
    columns: tuple[str, ...]
    unique: bool = False


@dataclass(frozen=True)
class View:
    name: str
    doc: str
    #: the SELECT, given the dialect (timestamps as ISO text differ between engines)
    select: Callable[[Dialect], str]
    #: (column, unit, meaning) of what the view returns, for the docs
    columns: tuple[tuple[str, str, str], ...] = ()


# -- operations ----------------------------------------------------------------------
@dataclass(frozen=True)
class CreateTable:
    table: Table


@dataclass(frozen=True)
class AddColumn:
    table: str
    column: Column


@dataclass(frozen=True)
class RenameColumn:
    table: str
    old: str
    #: the column under its new name, with its unit and meaning
    column: Column


@dataclass(frozen=True)
class CreateIndex:
    index: Index


@dataclass(frozen=True)
class DropIndex:
    name: str


@dataclass(frozen=True)
class CreateView:
    view: View


@dataclass(frozen=True)
class DropView:
    name: str


@dataclass(frozen=True)
class CheckReferencePerStatement:
    """Keep ``table.column``'s reference (its ``Column.references``, deleted with its
    parent) with one check per insert statement instead of one per row, where an engine's
    per-row check is what a bulk insert costs. PostgreSQL checks a foreign key with a query
    per row (4x the cost of COPYing the row, measured: benchmarks/store.py); there the
    constraint becomes two statement triggers (the new rows' parents exist and are locked
    against deletion; deleting a parent deletes its rows). SQLite keeps its column
    constraint (a key lookup in C per row). The model does not change: the reference is
    the same, only how it is kept."""

    table: str
    column: str


Operation = CreateTable | AddColumn | RenameColumn | CreateIndex | DropIndex | CreateView | \
    DropView | CheckReferencePerStatement


@dataclass(frozen=True)
class Migration:
    version: int
    title: str
    operations: tuple[Operation, ...]


# -- dialects ------------------------------------------------------------------------
class Dialect:
    """How one engine spells the operations. Subclasses differ only where SQL does."""

    name = "abstract"
    placeholder = "?"
    types: ClassVar[dict[str, str]] = {INTEGER: "INTEGER", REAL: "REAL", TEXT: "TEXT"}

    def column_sql(self, table: Table, c: Column) -> str:
        if table.primary_key == ("id",) and c.name == "id":
            return self.id_column(c)
        parts = [self.quote(c.name), self.types[c.type]]
        if c.not_null:
            parts.append("NOT NULL")
        if c.default is not None:
            parts.append(f"DEFAULT {self.literal(c.default)}")
        if c.references:
            parts.append(f"REFERENCES {c.references} ON DELETE CASCADE")
        return " ".join(parts)

    def id_column(self, c: Column) -> str:
        raise NotImplementedError

    def quote(self, name: str) -> str:
        return f'"{name}"'

    @staticmethod
    def literal(v: int | float | str) -> str:
        if isinstance(v, str):
            return "'" + v.replace("'", "''") + "'"
        return repr(v)

    def create_table(self, t: Table) -> list[str]:
        cols = [self.column_sql(t, c) for c in t.columns]
        if t.primary_key and t.primary_key != ("id",):
            cols.append(f"PRIMARY KEY ({', '.join(map(self.quote, t.primary_key))})")
        return [f"CREATE TABLE {self.quote(t.name)} ({', '.join(cols)})"]

    def render(self, op: Operation, model: Model) -> list[str]:
        if isinstance(op, CreateTable):
            return self.create_table(op.table)
        if isinstance(op, AddColumn):
            t = model.tables[op.table]
            return [f"ALTER TABLE {self.quote(op.table)} ADD COLUMN "
                    f"{self.column_sql(t, op.column)}"]
        if isinstance(op, RenameColumn):
            if op.old == op.column.name:
                return []  # a new unit or meaning in the docs only
            return [f"ALTER TABLE {self.quote(op.table)} RENAME COLUMN {self.quote(op.old)} "
                    f"TO {self.quote(op.column.name)}"]
        if isinstance(op, CreateIndex):
            ix = op.index
            return [f"CREATE {'UNIQUE ' if ix.unique else ''}INDEX {self.quote(ix.name)} ON "
                    f"{self.quote(ix.table)} ({', '.join(self.index_term(c) for c in ix.columns)})"]
        if isinstance(op, DropIndex):
            return [f"DROP INDEX IF EXISTS {self.quote(op.name)}"]
        if isinstance(op, CreateView):
            return [f"CREATE VIEW {self.quote(op.view.name)} AS {op.view.select(self)}"]
        if isinstance(op, DropView):
            return [f"DROP VIEW IF EXISTS {self.quote(op.name)}"]
        if isinstance(op, CheckReferencePerStatement):
            ref = model.tables[op.table].column(op.column).references
            if not ref:
                raise KeyError(f"{op.table}.{op.column} references nothing")
            parent, _, key = ref.rstrip(")").partition("(")
            return self.reference_per_statement(op.table, op.column, parent, key)
        raise TypeError(f"unknown schema operation {op!r}")

    def reference_per_statement(self, table: str, column: str, parent: str, key: str
                                ) -> list[str]:
        """The DDL of :class:`CheckReferencePerStatement`; none where the column
        constraint stays."""
        return []

    def index_term(self, col: str) -> str:
        if col.endswith(" DESC"):
            return f"{self.quote(col[:-5])} DESC"
        return self.quote(col)

    def iso_utc(self, expr: str) -> str:
        """SQL turning a ``*_unix_s`` column into ISO-8601 UTC text."""
        raise NotImplementedError


class SQLiteDialect(Dialect):
    name = "sqlite"

    def id_column(self, c: Column) -> str:
        return f"{self.quote(c.name)} INTEGER PRIMARY KEY"

    def create_table(self, t: Table) -> list[str]:
        sql = super().create_table(t)
        if t.without_rowid:
            sql[0] += " WITHOUT ROWID"
        return sql

    def iso_utc(self, expr: str) -> str:
        return f"strftime('%Y-%m-%dT%H:%M:%fZ', {expr}, 'unixepoch')"


class PostgresDialect(Dialect):
    name = "postgresql"
    placeholder = "%s"
    types: ClassVar[dict[str, str]] = {INTEGER: "BIGINT", REAL: "DOUBLE PRECISION",
                                       TEXT: "TEXT"}

    def id_column(self, c: Column) -> str:
        return f"{self.quote(c.name)} BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY"

    def iso_utc(self, expr: str) -> str:
        return (f"to_char(to_timestamp({expr}) AT TIME ZONE 'UTC', "
                "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')")

    def reference_per_statement(self, table: str, column: str, parent: str, key: str
                                ) -> list[str]:
        q = self.quote
        check, cascade = f"devicelab_{table}_{column}_check", f"devicelab_{table}_{column}_cascade"
        # the parents of the new rows, locked as a foreign key check locks them (a parent
        # deleted meanwhile cannot leave rows behind), counted once per statement
        body = (f"BEGIN IF (SELECT count(*) FROM (SELECT 1 FROM {q(parent)} WHERE {q(key)} IN "
                f"(SELECT DISTINCT {q(column)} FROM new_rows) FOR KEY SHARE) AS k) <> "
                f"(SELECT count(DISTINCT {q(column)}) FROM new_rows) THEN RAISE EXCEPTION "
                f"USING ERRCODE = 'foreign_key_violation', MESSAGE = 'insert or update on "
                f"table {table} violates its reference to {parent}: no such {key}'; END IF; "
                "RETURN NULL; END")
        stmts = [f"ALTER TABLE {q(table)} DROP CONSTRAINT IF EXISTS {q(f'{table}_{column}_fkey')}",
                 f"CREATE OR REPLACE FUNCTION {check}() RETURNS trigger LANGUAGE plpgsql AS "
                 f"$$ {body} $$",
                 f"CREATE OR REPLACE FUNCTION {cascade}() RETURNS trigger LANGUAGE plpgsql AS "
                 f"$$ BEGIN DELETE FROM {q(table)} WHERE {q(column)} IN (SELECT {q(key)} FROM "
                 "old_rows); RETURN NULL; END $$"]
        for event in ("INSERT", "UPDATE"):  # one event a trigger: transition tables say so
            stmts.append(f"CREATE TRIGGER {q(f'{table}_{column}_{event.lower()}_check')} AFTER "
                         f"{event} ON {q(table)} REFERENCING NEW TABLE AS new_rows FOR EACH "
                         f"STATEMENT EXECUTE FUNCTION {check}()")
        stmts.append(f"CREATE TRIGGER {q(f'{parent}_{table}_cascade')} AFTER DELETE ON "
                     f"{q(parent)} REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT "
                     f"EXECUTE FUNCTION {cascade}()")
        return stmts


# -- the model the migrations are replayed on ------------------------------------------
@dataclass
class Model:
    tables: dict[str, Table] = field(default_factory=dict)
    indexes: dict[str, Index] = field(default_factory=dict)
    views: dict[str, View] = field(default_factory=dict)

    def apply(self, op: Operation) -> None:
        if isinstance(op, CreateTable):
            self.tables[op.table.name] = op.table
        elif isinstance(op, AddColumn):
            t = self.tables[op.table]
            self.tables[op.table] = replace(t, columns=(*t.columns, op.column))
        elif isinstance(op, RenameColumn):
            t = self.tables[op.table]
            if op.old not in t.names:
                raise KeyError(f"{op.table} has no column {op.old!r} to rename")
            cols = tuple(op.column if c.name == op.old else c for c in t.columns)
            pk = tuple(op.column.name if k == op.old else k for k in t.primary_key)
            self.tables[op.table] = replace(t, columns=cols, primary_key=pk)
            for name, ix in list(self.indexes.items()):
                if ix.table == op.table:
                    self.indexes[name] = replace(ix, columns=tuple(
                        _renamed(c, op.old, op.column.name) for c in ix.columns))
        elif isinstance(op, CreateIndex):
            self.indexes[op.index.name] = op.index
        elif isinstance(op, DropIndex):
            self.indexes.pop(op.name, None)
        elif isinstance(op, CreateView):
            self.views[op.view.name] = op.view
        elif isinstance(op, DropView):
            self.views.pop(op.name, None)
        elif isinstance(op, CheckReferencePerStatement):
            self.tables[op.table].column(op.column)  # a typo fails here, not in a database


def _renamed(term: str, old: str, new: str) -> str:
    if term == old:
        return new
    if term == f"{old} DESC":
        return f"{new} DESC"
    return term
