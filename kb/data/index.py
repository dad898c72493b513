"""The SQL index: a derived, disposable copy of the files, for queries and dashboards.

YAML and JSON in git are the source of truth; the index can be deleted and rebuilt at
any time (`kb index`). It refreshes itself when the files change: a fingerprint of every
input file's path, size and modification time is stored with it. SQLite in `.kb/` by
default; `KB_DATABASE_URL` selects another database (PostgreSQL works through the same
models).

A refresh is incremental: the meta table keeps each input file's size, modification time
and content hash, and only the rows of claim files and run records whose content changed
(or that appeared or went away) are deleted and inserted again, in one transaction. The
size and time only spare re-hashing a file whose stat is unchanged; a file whose stat
changed but whose bytes did not is left alone. References and experiment scripts are few,
so their tables are rewritten whole when any of them changes. An index written by another
kb version, or `--force`, is rebuilt from scratch; either way the tables end up equal.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import time
import urllib.parse
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sqlalchemy import URL, Connection, Engine, delete, insert, select, text
from sqlmodel import SQLModel, col, create_engine

from kb.checking.cache import content_hash, version_key
from kb.checking.knowledge import CLAIMS_DIR, REFERENCES_FILE, REPRO_DIR, KnowledgeBase
from kb.data.index_tables import (
    MODELS,
    ClaimTable,
    MetaTable,
    MetricTable,
    PredictionTable,
    RunTable,
    SeedResultTable,
    SourceTable,
)
from kb.data.tables import TABLES, Rows, flatten
from kb.formats.errors import KbError
from kb.formats.files import FileRefused, SafeReader
from kb.formats.records import MAX_RECORD_BYTES, RUNS_DIR, read_record, read_records

DEFAULT_DATABASE = ".kb/index.sqlite"
ENV_URL = "KB_DATABASE_URL"


def database_url(root: Path) -> str:
    url = os.environ.get(ENV_URL)
    if url:
        return url
    path = root / DEFAULT_DATABASE
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def engine_for(url: str) -> Engine:
    return create_engine(url)


FILE_KEY = "file:"  # meta rows "file:<path>" -> "<size> <mtime_ns> <content hash>"
CHUNK = 500  # ids per IN (...) clause, well under every database's parameter limit

Stat = tuple[int, int]  # size, mtime_ns


def input_files(root: Path) -> dict[str, Stat]:
    """Every file the index is made from, relative to `root`, with its size and mtime.

    Strings and os.scandir, not Path objects: at 100,000 run records, pathlib's per-path
    cost would be most of an incremental refresh.
    """
    out: dict[str, Stat] = {}

    def scan(folder: str, prefix: str, suffixes: tuple[str, ...]) -> None:
        try:
            entries = list(os.scandir(folder))
        except OSError:
            return
        for entry in entries:
            if entry.name.endswith(suffixes):
                try:
                    stat = entry.stat()
                except OSError:  # removed while listing: it is simply not there
                    continue
                out[f"{prefix}/{entry.name}"] = (stat.st_size, stat.st_mtime_ns)

    base = str(root)
    for folder, _, _ in os.walk(root / CLAIMS_DIR):
        scan(folder, os.path.relpath(folder, base).replace(os.sep, "/"), (".yaml", ".yml"))
    if (root / REFERENCES_FILE).is_file():
        stat = (root / REFERENCES_FILE).stat()
        out[REFERENCES_FILE] = (stat.st_size, stat.st_mtime_ns)
    scan(str(root / REPRO_DIR), REPRO_DIR, (".py",))
    runs = root / RUNS_DIR
    try:
        folders = [e for e in os.scandir(runs) if e.is_dir()]
    except OSError:
        folders = []
    for entry in folders:
        scan(entry.path, f"{RUNS_DIR}/{entry.name}", (".json",))
    return out


def fingerprint(files: dict[str, Stat]) -> str:
    """Changes whenever an input file is added, removed, or modified, or kb itself changes."""
    listing = f"{version_key()}\n" + "".join(
        f"{path}\0{files[path][0]}\0{files[path][1]}\n" for path in sorted(files)
    )
    return hashlib.sha256(listing.encode()).hexdigest()


@dataclass(frozen=True)
class IndexReport:
    url: str
    rebuilt: bool
    counts: dict[str, int]


def _safe_url(url: str) -> str:
    """The URL as shown to users: without a password."""
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


def create_tables(engine: Engine) -> None:
    """Create missing tables. Two `kb` processes doing this at once on a new PostgreSQL
    database can collide in the catalog; the loser retries and then finds them made."""
    from sqlalchemy.exc import DBAPIError

    for attempt in range(3):
        try:
            SQLModel.metadata.create_all(engine)
            return
        except DBAPIError:
            if attempt == 2:
                raise
            time.sleep(0.2 * (attempt + 1))


def _file_hashes(
    root: Path, files: dict[str, Stat], known: dict[str, str]
) -> tuple[dict[str, str], set[str]]:
    """The new meta values of `files` whose stat moved, and the paths whose content did.

    A file whose size and mtime match `known` keeps its hash without being read; one whose
    stat moved is hashed, and counts as changed only if the hash did. Files in `known` but
    gone from `files` are changed too.
    """
    fresh, changed = {}, set(known.keys() - files.keys())
    reader = SafeReader(root)
    for path, (size, mtime) in files.items():
        old = known.get(path)
        stat = f"{size} {mtime} "
        if old is not None and old.startswith(stat):
            continue
        try:
            digest = content_hash(reader.read(root / path, MAX_RECORD_BYTES))
        except (OSError, FileRefused):  # gone since listed, or not readable: absent, as in the rows
            if old is not None:
                changed.add(path)
            continue
        fresh[path] = stat + digest
        if old is None or not old.endswith(f" {digest}"):
            changed.add(path)
    return fresh, changed


def _chunks(items: list[str]) -> list[list[str]]:
    return [items[i : i + CHUNK] for i in range(0, len(items), CHUNK)]


def _rebuild(conn: Connection, rows: Rows) -> None:
    for name, model in MODELS.items():
        conn.execute(delete(model))
        if rows[name]:
            conn.execute(insert(model), rows[name])  # one executemany: ~10x add_all


def _update(conn: Connection, kb: KnowledgeBase, changed: set[str]) -> None:
    """Replace the rows of the changed (added, modified, removed) files only."""
    claim_files = sorted(
        p for p in changed if p.startswith(f"{CLAIMS_DIR}/") and p != REFERENCES_FILE
    )
    run_files = sorted(p for p in changed if p.startswith(f"{RUNS_DIR}/"))
    scripts = any(p.startswith(f"{REPRO_DIR}/") and p.count("/") == 1 for p in changed)
    old_claims = [
        cid
        for chunk in _chunks(claim_files)
        for cid in conn.execute(
            select(col(ClaimTable.id)).where(col(ClaimTable.file).in_(chunk))
        ).scalars()
    ]
    for chunk in _chunks(old_claims):
        conn.execute(delete(ClaimTable).where(col(ClaimTable.id).in_(chunk)))
        conn.execute(delete(SourceTable).where(col(SourceTable.claim_id).in_(chunk)))
        conn.execute(delete(PredictionTable).where(col(PredictionTable.claim_id).in_(chunk)))
    wanted = set(claim_files)
    fresh = {cid: c for cid, c in kb.claims.items() if c.file in wanted}
    records = [r for r in (read_record(kb.root, p)[0] for p in run_files) if r is not None]
    # Run ids are file stems; match the folder too, so a same-named file elsewhere is kept.
    paths = {tuple(p.rsplit("/", 2)[-2:]) for p in run_files}
    stems = sorted({name.removesuffix(".json") for _, name in paths})
    old_runs = [
        run_id
        for chunk in _chunks(stems)
        for run_id, experiment in conn.execute(
            select(col(RunTable.id), col(RunTable.experiment)).where(col(RunTable.id).in_(chunk))
        ).all()
        if (experiment, f"{run_id}.json") in paths
    ]
    for chunk in _chunks(old_runs):
        conn.execute(delete(RunTable).where(col(RunTable.id).in_(chunk)))
        conn.execute(delete(SeedResultTable).where(col(SeedResultTable.run_id).in_(chunk)))
        conn.execute(delete(MetricTable).where(col(MetricTable.run_id).in_(chunk)))
    rows = flatten(replace(kb, claims=fresh), records)
    rewrite = {"references": REFERENCES_FILE in changed, "experiments": scripts}
    for name in TABLES:
        if name in rewrite:
            if not rewrite[name]:
                continue
            conn.execute(delete(MODELS[name]))
        if rows[name]:
            conn.execute(insert(MODELS[name]), rows[name])


def _write(
    conn: Connection, kb: KnowledgeBase, files: dict[str, Stat], stamp: str, force: bool
) -> None:
    """Bring the tables in line with the files, inside the caller's transaction."""
    if conn.dialect.name == "postgresql":
        # Concurrent refreshes (several `kb` processes) take turns; without this, two
        # delete-then-insert transactions collide on the primary keys.
        conn.execute(text("SELECT pg_advisory_xact_lock(7363420)"))
    # Writing first takes SQLite's write lock before anything is read, so a concurrent
    # refresh cannot decide what to change from a state about to be replaced.
    conn.execute(delete(MetaTable).where(col(MetaTable.key) == "fingerprint"))
    meta = {k: v for k, v in conn.execute(select(col(MetaTable.key), col(MetaTable.value)))}
    known = {k[len(FILE_KEY) :]: v for k, v in meta.items() if k.startswith(FILE_KEY)}
    incremental = not force and meta.get("version") == version_key() and bool(known)
    fresh, changed = _file_hashes(kb.root, files, known if incremental else {})
    outdated = sorted(fresh)
    if incremental:
        _update(conn, kb, changed)
        # Rows of changed files, of files whose stat alone moved (so they are not hashed
        # again next time), and of files that are gone.
        gone = sorted(changed - fresh.keys())
        stale = [FILE_KEY + p for p in [*outdated, *gone]] + ["version"]
    else:
        records, _ = read_records(kb.root)
        _rebuild(conn, flatten(kb, records))
        stale = sorted(meta)
    for chunk in _chunks(stale):
        conn.execute(delete(MetaTable).where(col(MetaTable.key).in_(chunk)))
    conn.execute(
        insert(MetaTable),
        [
            *({"key": FILE_KEY + p, "value": fresh[p]} for p in outdated),
            {"key": "fingerprint", "value": stamp},
            {"key": "version", "value": version_key()},
        ],
    )


def stored_fingerprint(engine: Engine) -> str | None:
    """The fingerprint of the files last indexed (the tables must exist)."""
    with engine.connect() as conn:
        value = conn.execute(
            select(col(MetaTable.value)).where(col(MetaTable.key) == "fingerprint")
        ).scalar_one_or_none()
    return str(value) if value is not None else None


def refresh(kb: KnowledgeBase, *, force: bool = False, url: str | None = None) -> IndexReport:
    """Bring the index up to date with the files, changing only the rows of changed files."""
    url = url or database_url(kb.root)
    engine = engine_for(url)
    try:
        files = input_files(kb.root)
        stamp = fingerprint(files)
        create_tables(engine)
        if not force and stored_fingerprint(engine) == stamp:
            return IndexReport(_safe_url(url), False, _counts(engine))
        with engine.begin() as conn:
            _write(conn, kb, files, stamp, force)
        return IndexReport(_safe_url(url), True, _counts(engine))
    finally:
        engine.dispose()


def _counts(engine: Engine) -> dict[str, int]:
    from sqlalchemy import func

    with engine.connect() as conn:
        return {
            name: int(conn.execute(select(func.count()).select_from(model)).scalar_one())
            for name, model in MODELS.items()
        }


class QueryError(KbError):
    """Raised by `query` for SQL the index cannot run: a syntax error, an unknown table, or
    any attempt to write (the message is the database's first line, and a hint)."""


def query(kb: KnowledgeBase, sql: str) -> list[dict[str, Any]]:
    """Run one read-only SQL statement against a fresh index (for `kb index --sql`).

    Read-only is enforced by the database, not by reading the SQL: SQLite is opened with
    `mode=ro` and `query_only`, and an authorizer allows nothing but reading (so `ATTACH`,
    which would create a file at any path, fails too); PostgreSQL runs it as one prepared
    statement (no second statement can follow a `COMMIT`) in a read-only transaction of a
    session whose transactions default to read-only.
    """
    from sqlalchemy.engine import make_url

    refresh(kb)
    url = make_url(database_url(kb.root))
    try:
        if url.get_backend_name() == "sqlite":
            return _query_sqlite(url.database, sql)
        return _query_server(url, sql)
    except QueryError:
        raise
    except Exception as exc:  # the driver's error, whichever driver: one line for the user
        if not _is_database_error(exc):
            raise
        raise QueryError(_sql_message(exc)) from None


_SQLITE_READING = {
    sqlite3.SQLITE_SELECT,
    sqlite3.SQLITE_READ,
    sqlite3.SQLITE_FUNCTION,
    getattr(sqlite3, "SQLITE_RECURSIVE", 33),  # WITH RECURSIVE (named in Python 3.11.4+)
}


def _sqlite_authorizer(action: int, *_: object) -> int:
    return sqlite3.SQLITE_OK if action in _SQLITE_READING else sqlite3.SQLITE_DENY


def _query_sqlite(database: str | None, sql: str) -> list[dict[str, Any]]:
    if not database or database == ":memory:":
        raise QueryError("an in-memory index holds nothing between commands: set a database file")
    uri = f"file:{urllib.parse.quote(os.path.abspath(database))}?mode=ro"
    conn = sqlite3.connect(uri, uri=True)
    try:
        conn.execute("PRAGMA query_only = ON")
        conn.set_authorizer(_sqlite_authorizer)
        cursor = conn.execute(sql)
        names = [d[0] for d in cursor.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        conn.close()


def _query_server(url: URL, sql: str) -> list[dict[str, Any]]:
    if url.get_backend_name() != "postgresql":
        raise QueryError("kb index --sql runs on SQLite or PostgreSQL only (it must be read-only)")
    engine = create_engine(url, connect_args={"options": "-c default_transaction_read_only=on"})
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql("SET TRANSACTION READ ONLY")
            dbapi = conn.connection.dbapi_connection
            if engine.dialect.driver != "psycopg" or dbapi is None:
                # Other drivers send the text as it is: the session default above keeps a
                # second statement after a COMMIT read-only too, unless it changes the default.
                result = conn.exec_driver_sql(sql)
                rows = [dict(row._mapping) for row in result] if result.returns_rows else []
            else:
                cursor: Any = dbapi.cursor()
                try:
                    # prepare=True: the extended protocol, which runs exactly one statement.
                    cursor.execute(sql, prepare=True)
                    names = [d[0] for d in cursor.description or ()]
                    rows = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
                finally:
                    cursor.close()
            conn.rollback()
            return rows
    finally:
        engine.dispose()


def _is_database_error(exc: Exception) -> bool:
    from sqlalchemy.exc import SQLAlchemyError

    if isinstance(exc, SQLAlchemyError | sqlite3.Error):
        return True
    return any(cls.__name__ == "Error" and "psycopg" in cls.__module__ for cls in type(exc).__mro__)


def _sql_message(exc: Exception) -> str:
    original = getattr(exc, "orig", None) or exc
    first = (str(original).strip().splitlines() or [type(original).__name__])[0]
    if "not authorized" in first or "read-only" in first or "readonly" in first:
        first += " (kb index --sql only reads: SELECT statements)"
    return f"SQL error: {first}"
