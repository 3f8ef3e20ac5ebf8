"""What every desk table is built on: the declarative base with its naming convention, aware UTC datetimes
and enums stored as their values.

Statements the worker runs for every message are built once, at import, with ``bindparam`` for what varies
(the ``_UPPER_CASE`` statements of the desk's modules): on SQLite, building a statement and its cache key per
call cost more than running it (320-340 us against 100-150 us for a prebuilt one)."""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from sqlalchemy import DateTime, Enum, Index, MetaData, TypeDecorator
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import DeclarativeBase, Session

T = TypeVar("T")


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Aware UTC datetimes in and out, also on SQLite (which stores no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the desk; use an aware UTC datetime")
        value = value.astimezone(dt.UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: dt.datetime | None, dialect: Any) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC) if value.tzinfo is None else value.astimezone(dt.UTC)


def conflict_insert(session: Session, table: type[Any]) -> postgresql.Insert | sqlite.Insert:
    """An ``INSERT`` in the session's database with its ``ON CONFLICT`` clauses (the desk runs on SQLite and
    PostgreSQL, which spell them alike)."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


class ConflictInserts(Generic[T]):
    """A hot ``INSERT ... ON CONFLICT`` built once for each database (``build(insert)`` with each one's ``insert``);
    ``for_(session)`` is the one of the session's database."""

    def __init__(self, build: Callable[[Callable[[type[Any]], Any]], T]):
        self._by_dialect = {"sqlite": build(sqlite.insert), "postgresql": build(postgresql.insert)}

    def for_(self, session: Session) -> T:
        return self._by_dialect["postgresql" if session.get_bind().dialect.name == "postgresql" else "sqlite"]


def _enum(cls: type[enum.Enum], length: int = 32) -> Enum:
    # Stored as VARCHAR of the enum's value: portable, readable in SQL, no ALTER TYPE on change.
    return Enum(
        cls,
        native_enum=False,
        create_constraint=False,
        length=length,
        values_callable=lambda e: [str(m.value) for m in e],
        validate_strings=True,
    )


ONLY_ON = "only_on"  # Index.info: the one database that has the index


def index_only_on(dialect: str, name: str, *columns: str, **kwargs: Any) -> Index:
    """An index that ``dialect`` alone has (PostgreSQL's trigram indexes): the migration and ``create_all`` make it
    there only, and ``include_in_comparison`` leaves it out of the model-to-database comparison elsewhere."""
    return Index(name, *columns, info={ONLY_ON: dialect}, **kwargs).ddl_if(dialect=dialect)


def include_in_comparison(dialect: str):  # noqa: ANN201 - Alembic's include_object hook
    """Alembic's ``include_object`` for a database of ``dialect``: the models' indexes for another database do not
    count as missing from it."""
    def include(obj: Any, name: str | None, type_: str, reflected: bool, compare_to: Any) -> bool:
        return reflected or type_ != "index" or obj.info.get(ONLY_ON, dialect) == dialect

    return include


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
