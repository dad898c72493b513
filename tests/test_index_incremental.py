"""The incremental index refresh (SQLite): after any edits, the same tables as a rebuild."""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, create_engine, text
from support import run_kb

from kb.checking.load import load
from kb.data import index
from kb.data.tables import Rows

Write = Callable[[str, "str | bytes"], Path]

EXPLANATION = """\
schema_version: 1
id: {id}
kind: explanation
explains: fast-training
title: {title}
statement: Explanation {id} holds.
summary: Because, at more length.
topic: demo
sources:
  - citekey: ioffe2015
    stance: proposes
    locator: Sec. 1
predictions:
  - id: ratio
    statement: The ratio is large.
    experiment: demo_experiment
    metric: ratio
    expect: "> 1"
created: 2026-01-01
updated: 2026-01-01
"""


def claim(id: str, title: str = "An explanation") -> str:
    return EXPLANATION.format(id=id, title=title)


def record(run_id: str, value: float) -> str:
    started = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
    return json.dumps(
        {
            "id": run_id,
            "experiment": "demo_experiment",
            "scale": "smoke",
            "config": {"mean": 2.0, "noise": 0.1},
            "seeds": [0, 1],
            "outcome": "ok",
            "results": [
                {"seed": s, "key": f"k{s}", "outcome": "ok", "metrics": {"ratio": value + s}}
                for s in (0, 1)
            ],
            "script": "repro/demo_experiment.py",
            "script_sha256": "0" * 64,
            "git": {"dirty": False},
            "packages": {},
            "hardware": {"device": "cpu", "cpu": "x", "cores": 1, "platform": "linux"},
            "started": started.isoformat(),
            "finished": started.isoformat(),
            "wall_s": 1.0,
            "command": "kb run",
        }
    )


def run_file(run_id: str) -> str:
    return f"repro/runs/demo_experiment/{run_id}.json"


def tables(url: str) -> dict[str, list[tuple[Any, ...]]]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                name: sorted(tuple(row) for row in conn.execute(text(f'SELECT * FROM "{name}"')))
                for name in [*index.MODELS, "kb_meta"]
            }
    finally:
        engine.dispose()


def _no_rebuild(*args: object) -> None:
    raise AssertionError("rebuilt instead of updating")


def refresh_both(
    root: Path, tmp_path: Path, *, incremental: bool = False
) -> tuple[index.IndexReport, dict[str, Any]]:
    """Refresh the index, rebuild a fresh one, check the two are equal; return the report
    and the tables. With `incremental`, a refresh that rebuilds fails the test."""
    kb = load(root)
    assert kb.errors == []
    url = f"sqlite:///{tmp_path / 'incremental.sqlite'}"
    with pytest.MonkeyPatch.context() as patch:
        if incremental:
            patch.setattr(index, "_rebuild", _no_rebuild)
        report = index.refresh(kb, url=url)
    fresh = tmp_path / "fresh.sqlite"
    fresh.unlink(missing_ok=True)
    index.refresh(kb, url=f"sqlite:///{fresh}", force=True)
    assert tables(url) == tables(f"sqlite:///{fresh}")
    return report, tables(url)


@pytest.fixture
def indexed(base_kb: Path, write: Write, tmp_path: Path) -> Path:
    for n in range(4):
        write(f"claims/demo/because-{n}.yaml", claim(f"because-{n}"))
    for n in range(4):
        write(run_file(f"20260301T00000{n}Z-00000{n}"), record(f"20260301T00000{n}Z-00000{n}", n))
    refresh_both(base_kb, tmp_path)
    return base_kb


def test_edits_additions_and_deletions_equal_a_rebuild(
    indexed: Path, write: Write, tmp_path: Path
) -> None:
    write("claims/demo/because-1.yaml", claim("because-1", title="A retitled explanation"))
    (indexed / "claims/demo/because-2.yaml").unlink()
    write("claims/other/because-9.yaml", claim("because-9").replace("topic: demo", "topic: other"))
    (indexed / "claims/demo/because-3.yaml").rename(indexed / "claims/demo/moved.yaml")
    write("claims/demo/moved.yaml", claim("moved"))
    write(run_file("20260301T000001Z-000001"), record("20260301T000001Z-000001", 7.5))
    (indexed / run_file("20260301T000002Z-000002")).unlink()
    write(run_file("20260301T000003Z-000003"), "{not json")  # unreadable: no rows
    write(run_file("20260302T000000Z-00000a"), record("20260302T000000Z-00000a", 3.0))
    bib = indexed / "claims/references.bib"
    bib.write_text(
        bib.read_text()
        + "\n@misc{new2026, title = {New}, author = {A, B}, year = {2026}, url = {https://example.org}}\n"
    )
    report, after = refresh_both(indexed, tmp_path, incremental=True)
    assert report.rebuilt
    titles = {row[0]: row[3] for row in after["claims"]}
    assert titles["because-1"] == "A retitled explanation"
    assert "because-2" not in titles and "because-3" not in titles and "moved" in titles
    runs = {row[0] for row in after["runs"]}
    assert runs == {"20260301T000000Z-000000", "20260301T000001Z-000001", "20260302T000000Z-00000a"}
    assert any(row[0] == "new2026" for row in after["references"])


def test_a_changed_experiment_script_rewrites_the_experiments(
    indexed: Path, tmp_path: Path
) -> None:
    script = indexed / "repro/demo_experiment.py"
    script.write_text(script.read_text().replace('"ratio": "a noisy', '"ratio": "a very noisy'))
    _, after = refresh_both(indexed, tmp_path, incremental=True)
    assert "a very noisy" in after["experiments"][0][4]


def test_touched_but_unchanged_files_change_no_rows(
    indexed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for path in [
        indexed / "claims/demo/because-0.yaml",
        indexed / run_file("20260301T000000Z-000000"),
    ]:
        os.utime(path, (1_000_000, 1_000_000))
    updated: list[set[str]] = []
    monkeypatch.setattr(index, "_update", lambda conn, kb, changed: updated.append(changed))
    report, _ = refresh_both(indexed, tmp_path, incremental=True)
    assert report.rebuilt and updated == [set()]
    assert (
        index.refresh(load(indexed), url=f"sqlite:///{tmp_path / 'incremental.sqlite'}").rebuilt
        is False
    )


def test_an_index_from_another_kb_version_is_rebuilt(
    indexed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No file changed: the new kb alone makes the index out of date.
    monkeypatch.setattr(index, "version_key", lambda: "a later kb")
    rebuilt: list[int] = []
    original = index._rebuild

    def counting(conn: Connection, rows: Rows) -> None:
        rebuilt.append(len(rows["claims"]))
        original(conn, rows)

    monkeypatch.setattr(index, "_rebuild", counting)
    refresh_both(indexed, tmp_path)
    assert rebuilt == [5, 5]  # the incremental index and the fresh one


def test_kb_index_command_updates_after_an_edit(indexed: Path, write: Write) -> None:
    assert run_kb("index", cwd=indexed).returncode == 0
    write("claims/demo/because-1.yaml", claim("because-1", title="Seen by SQL"))
    result = run_kb("index", cwd=indexed)
    assert result.returncode == 0, result.stderr
    rows = run_kb("index", "--sql", "select title from claims where id = 'because-1'", cwd=indexed)
    assert json.loads(rows.stdout) == [{"title": "Seen by SQL"}]
