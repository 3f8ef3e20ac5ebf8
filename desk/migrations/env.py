"""Alembic environment: run by ``desk.migrate`` with a live connection, or by the alembic CLI."""

from alembic import context
from sqlalchemy import engine_from_config, pool

from desk._base import include_in_comparison
from desk.models import Base

config = context.config
target_metadata = Base.metadata


def run(connection) -> None:  # noqa: ANN001
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
        include_object=include_in_comparison(connection.dialect.name),
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    run(connection)
else:
    engine = engine_from_config(config.get_section(config.config_ini_section, {}), prefix="sqlalchemy.", poolclass=pool.NullPool)
    with engine.connect() as conn:
        run(conn)
