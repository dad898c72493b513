"""The SQL index on a real PostgreSQL server, through the same sqlmodel models as SQLite.

The test starts its own server on loopback (Debian's postgresql, a throwaway data folder,
trust authentication) and stops it afterwards. Without the server binaries it is skipped
with the reason printed, never passed silently.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import kb_executable, run_kb

INITDB = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    if not INITDB:
        pytest.skip("PostgreSQL server binaries not installed (apt-get install postgresql)")
    pytest.importorskip("psycopg", reason="the psycopg driver is not installed")
    bindir = Path(INITDB[-1]).parent
    # Not under pytest's tmp folder: as root, the server runs as 'postgres', who must be
    # able to reach its data folder (pytest's folders are private to their owner).
    data = Path(tempfile.mkdtemp(prefix="kb-pg-"))
    port = _free_port()
    as_user: list[str] = []
    if os.geteuid() == 0:  # PostgreSQL refuses to run as root
        shutil.chown(data, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    subprocess.run(
        [*as_user, str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "kb"],
        check=True,
        capture_output=True,
    )
    subprocess.run(
        [
            *as_user,
            str(bindir / "pg_ctl"),
            "-D",
            str(data),
            "-o",
            f"-k {data} -h 127.0.0.1 -p {port}",
            "-l",
            str(data / "log"),
            "-w",
            "start",
        ],
        check=True,
        capture_output=True,
    )
    try:
        yield f"postgresql+psycopg://kb@127.0.0.1:{port}/postgres"
    finally:
        subprocess.run(
            [*as_user, str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
            capture_output=True,
        )
        shutil.rmtree(data, ignore_errors=True)


def _fresh_database(url: str, name: str) -> str:
    from sqlalchemy import create_engine, text

    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f"DROP DATABASE IF EXISTS {name}"))
        conn.execute(text(f"CREATE DATABASE {name}"))
    engine.dispose()
    return url.rsplit("/", 1)[0] + f"/{name}"


def test_index_round_trip_on_postgres(base_kb: Path, postgres_url: str) -> None:
    env = {"KB_DATABASE_URL": postgres_url}
    assert (
        run_kb("run", "demo_experiment", "--seeds", "3", "--device", "cpu", cwd=base_kb).returncode
        == 0
    )
    result = run_kb("index", cwd=base_kb, env=env)
    assert result.returncode == 0, result.stderr
    assert "postgresql+psycopg://kb@127.0.0.1" in result.stdout and "3 metrics" in result.stdout
    assert "already up to date" in run_kb("index", cwd=base_kb, env=env).stdout
    query = "select metric, count(*) as n from metrics group by metric"
    rows = run_kb("index", "--sql", query, cwd=base_kb, env=env).stdout
    assert '"n": 3' in rows and '"metric": "ratio"' in rows


def test_concurrent_refreshes_lose_nothing(base_kb: Path, postgres_url: str) -> None:
    # A database of its own, so the concurrent refreshes also race to create the tables.
    env = {"KB_DATABASE_URL": _fresh_database(postgres_url, "concurrent")}
    run_kb("run", "demo_experiment", "--seeds", "3", "--device", "cpu", cwd=base_kb)
    full = {**os.environ, **env}
    full.pop("KB_ROOT", None)
    procs = [
        subprocess.Popen(
            [kb_executable(), "index", "--force"],
            cwd=base_kb,
            env=full,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    errors = [p.communicate(timeout=120)[1] for p in procs]
    assert all(p.returncode == 0 for p in procs), errors
    rows = run_kb(
        "index", "--sql", "select count(*) as n from metrics", cwd=base_kb, env=env
    ).stdout
    assert '"n": 3' in rows


@pytest.mark.parametrize(
    "sql",
    [
        "DROP TABLE predictions",
        "DELETE FROM claims",
        "COMMIT; DELETE FROM claims",
        "COMMIT; SET default_transaction_read_only = off; DELETE FROM claims",
    ],
)
def test_sql_on_postgres_is_read_only(base_kb: Path, postgres_url: str, sql: str) -> None:
    env = {"KB_DATABASE_URL": _fresh_database(postgres_url, "readonly")}
    before = run_kb("index", "--sql", "select count(*) as n from claims", cwd=base_kb, env=env)
    assert before.returncode == 0 and '"n": 1' in before.stdout, before.stderr
    result = run_kb("index", "--sql", sql, cwd=base_kb, env=env)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "SQL error" in result.stderr
    after = run_kb("index", "--sql", "select count(*) as n from claims", cwd=base_kb, env=env)
    assert '"n": 1' in after.stdout
