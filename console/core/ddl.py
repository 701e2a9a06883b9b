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


Operation = CreateTable | AddColumn | RenameColumn | CreateIndex | DropIndex | CreateView | \
    DropView


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
        raise TypeError(f"unknown schema operation {op!r}")

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


def _renamed(term: str, old: str, new: str) -> str:
    if term == old:
        return new
    if term == f"{old} DESC":
        return f"{new} DESC"
    return term
