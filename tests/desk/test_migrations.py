"""Migrations: an empty database reaches head on both backends, and the models agree with it."""

from sqlalchemy import inspect

from desk import make_engine, migrate
from desk.models import Base


def test_empty_database_upgrades_to_head_and_matches_the_models(empty_database_url: str) -> None:
    engine = make_engine(empty_database_url)
    try:
        migrate.upgrade(engine)
        assert migrate.current_revision(engine) == migrate.head_revision(engine)
        assert set(Base.metadata.tables) <= set(inspect(engine).get_table_names())
        assert migrate.pending_changes(engine) == []
        migrate.upgrade(engine)  # a second upgrade is a no-op
        assert migrate.current_revision(engine) == migrate.head_revision(engine)
    finally:
        engine.dispose()


def test_downgrade_to_base_and_back(empty_database_url: str) -> None:
    engine = make_engine(empty_database_url)
    try:
        migrate.upgrade(engine)
        migrate.downgrade(engine, "base")
        assert migrate.current_revision(engine) is None
        assert "tickets" not in inspect(engine).get_table_names()
        migrate.upgrade(engine)
        assert migrate.current_revision(engine) == migrate.head_revision(engine)
        assert migrate.pending_changes(engine) == []
    finally:
        engine.dispose()


def test_group_notice_places_move_to_notice_targets_and_back(empty_database_url: str) -> None:
    from sqlalchemy import text

    engine = make_engine(empty_database_url)
    try:
        migrate.upgrade(engine, "0008")
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO groups (name, email, slack_channel, timezone, working_hours, created_at) "
                              "VALUES ('Network', 'net@corp.example', 'C0NET', 'UTC', 'mon-fri 09:00-17:00', "
                              "CURRENT_TIMESTAMP), ('Telephony', NULL, NULL, 'UTC', 'mon-fri 09:00-17:00', "
                              "CURRENT_TIMESTAMP)"))
        migrate.upgrade(engine)
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT g.name, t.channel, t.address FROM notice_targets t "
                                     "JOIN groups g ON g.id = t.group_id ORDER BY t.channel")).all()
        assert [tuple(r) for r in rows] == [("Network", "email", "net@corp.example"), ("Network", "slack", "C0NET")]
        assert "slack_channel" not in {c["name"] for c in inspect(engine).get_columns("groups")}
        migrate.downgrade(engine, "0008")
        with engine.connect() as conn:
            back = conn.execute(text("SELECT name, email, slack_channel FROM groups ORDER BY name")).all()
        assert [tuple(r) for r in back] == [("Network", "net@corp.example", "C0NET"), ("Telephony", None, None)]
    finally:
        engine.dispose()
