"""Engine and session factory, and ``migrate(url)`` (Alembic upgrade to head, no alembic.ini).

SQLite runs in WAL mode (readers never block the writer); PostgreSQL is used as is. A
PostgreSQL ``schema`` puts every table of this engine in that schema (via ``search_path``),
which is how concurrent test workers share one server.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, make_url, text
from sqlalchemy.orm import Session, sessionmaker

from ledger_api.errors import SchemaError
from ledger_api.settings import Settings

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
HEAD = "heads"  # every branch: the API and indexer migrations branch from 0001


def is_sqlite(url: str | Engine) -> bool:
    if isinstance(url, Engine):
        return url.dialect.name == "sqlite"
    return make_url(url).get_backend_name() == "sqlite"


# A long-running server keeps several SQLite connections open for days (a pool, plus overflow
# connections opened and closed under load), and a regulator's scan of the access log fills
# a connection's whole cache: at 8 MiB each, the soak's server grew by about as much as its
# connections' caches as the log grew (docs/benchmarks.md). The hot pages of a gated read are
# few (the records, the replica, the log's last pages); the OS page cache holds the rest.
# Bulk ingestion keeps the larger cache, which holds its index pages hot.
SERVING_CACHE_MIB = 2
BULK_CACHE_MIB = 64
# Threads of an API process that check connections out of its pool besides the serving thread
# pool: the access-log writer and its WAL checkpointer, the anchoring loop, the indexer (in
# the embedded stack), the monitoring loop and the daily request counts.
BACKGROUND_CONNECTIONS = 6


def serving_pool_size(settings: Settings) -> int:
    """Connections an API process keeps: one per serving thread and per background thread.

    SQLAlchemy's default (5, plus 10 opened and closed again under load) made the thread
    pool's threads open and drop connections, each time a fresh SQLite page cache to fill.
    """
    return settings.thread_pool_size + BACKGROUND_CONNECTIONS


def make_serving_engine(settings: Settings) -> Engine:
    """The API process's engine: serving page caches, a pool sized to its threads."""
    return make_engine(
        settings.resolved_database_url,
        sqlite_cache_mib=SERVING_CACHE_MIB,
        pool_size=serving_pool_size(settings),
        sqlite_heap_limit_mib=settings.sqlite_heap_limit_mib,
    )


def make_engine(
    url: str,
    *,
    schema: str | None = None,
    echo: bool = False,
    sqlite_cache_mib: int = BULK_CACHE_MIB,
    pool_size: int | None = None,
    sqlite_heap_limit_mib: int = 0,
) -> Engine:
    """An engine for ``url``; SQLite files get WAL mode and their parent directory.
    ``pool_size``: connections kept (SQLAlchemy's default, 5, if None)."""
    parsed = make_url(url)
    kwargs: dict[str, Any] = {"echo": echo}
    if pool_size is not None:
        kwargs["pool_size"] = pool_size
    if parsed.get_backend_name() == "sqlite":
        database = parsed.database
        if database and database != ":memory:" and not database.startswith("file:"):
            Path(database).parent.mkdir(parents=True, exist_ok=True)
        kwargs["connect_args"] = {"timeout": 30}
        engine = create_engine(parsed, **kwargs)
        pragmas = functools.partial(_sqlite_pragmas, sqlite_cache_mib, sqlite_heap_limit_mib)
        event.listen(engine, "connect", pragmas)
        return engine
    kwargs["pool_pre_ping"] = True
    if schema is not None:
        kwargs["connect_args"] = {"options": f"-csearch_path={schema}"}
    return create_engine(parsed, **kwargs)


def _sqlite_pragmas(
    cache_mib: int, heap_limit_mib: int, dbapi_connection: Any, _record: Any
) -> None:
    cursor = dbapi_connection.cursor()
    # 4 KiB pages (SQLite's default): every API read dirties a few index pages that the WAL
    # and a checkpoint copy, so smaller pages make reads cheaper (docs/benchmarks.md). Takes
    # effect only when the file is created (``VACUUM`` converts an existing one).
    cursor.execute("PRAGMA page_size=4096")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")  # durable at checkpoints; safe with WAL
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA secure_delete=ON")  # shredded keys are overwritten, not just freed
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.execute(f"PRAGMA cache_size=-{cache_mib * 1024}")
    if heap_limit_mib > 0:
        # Process-wide: all of SQLite's connections together stop growing their page caches
        # (they reuse their least recently used pages) once SQLite holds this much memory.
        cursor.execute(f"PRAGMA soft_heap_limit={heap_limit_mib * 2**20}")
    cursor.close()


def session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(engine, expire_on_commit=False)


def alembic_config(engine: Engine) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser interpolates "%": escape it, or percent-encoded passwords and options
    # (postgresql://u:p%40ss@db/x?options=-csearch_path%3Ds) would break every migration.
    url = engine.url.render_as_string(hide_password=False)
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["engine"] = engine
    return config


def migrate(url: str | Engine, revision: str = HEAD) -> bool:
    """Upgrade the database at ``url`` (or behind ``engine``) to ``revision`` (default head);
    True if this call changed the schema.

    On PostgreSQL one process at a time migrates a schema (an advisory lock): API workers,
    the indexer and ``ccl db upgrade`` starting together wait for each other instead of
    racing to create the same tables.
    """
    engine = url if isinstance(url, Engine) else make_engine(url)
    try:
        with _migration_lock(engine):
            before, _heads = schema_revisions(engine)
            command.upgrade(alembic_config(engine), revision)
            return schema_revisions(engine)[0] != before
    finally:
        if not isinstance(url, Engine):
            engine.dispose()


# The advisory lock's first key: "CCL" in ASCII; the second is the schema's name, hashed.
_MIGRATION_LOCK_CLASS = 0x43434C


@contextmanager
def _migration_lock(engine: Engine) -> Iterator[None]:
    if engine.dialect.name != "postgresql":  # SQLite: one embedded process migrates
        yield
        return
    key = {"cls": _MIGRATION_LOCK_CLASS}
    with engine.connect() as conn:
        conn.execute(text("SELECT pg_advisory_lock(:cls, hashtext(current_schema()))"), key)
        try:
            yield
        finally:
            conn.execute(text("SELECT pg_advisory_unlock(:cls, hashtext(current_schema()))"), key)


def schema_revisions(engine: Engine) -> tuple[set[str], set[str]]:
    """(the database's current revisions, the revisions this version of the code needs)."""
    heads = set(ScriptDirectory.from_config(alembic_config(engine)).get_heads())
    with engine.connect() as conn:
        current = set(MigrationContext.configure(conn).get_current_heads())
    return current, heads


def ensure_schema(engine: Engine, *, migrate_if_behind: bool) -> None:
    """Migrate (embedded mode: one process owns the database), or refuse to run on a schema
    that is not current (production: ``ccl db upgrade`` is an explicit step)."""
    if migrate_if_behind:
        migrate(engine)
        return
    current, heads = schema_revisions(engine)
    if current != heads:
        have = ", ".join(sorted(current)) or "empty"
        raise SchemaError(
            f"the database schema is not current (it has {have}; this version needs "
            f"{', '.join(sorted(heads))}): run `ccl db upgrade` first"
        )


def downgrade(url: str | Engine, revision: str) -> None:
    engine = url if isinstance(url, Engine) else make_engine(url)
    try:
        command.downgrade(alembic_config(engine), revision)
    finally:
        if not isinstance(url, Engine):
            engine.dispose()
