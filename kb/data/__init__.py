"""Data out: the derived SQL index and the exports.

`index_tables` (the sqlmodel tables) and `index` (build and refresh from per-file hashes;
SQLite by default, PostgreSQL by URL), `query` (filters behind `kb list`), `tables`
(claims, sources, predictions, runs as rows), `export` (CSV, Parquet, JSON, BibTeX),
`jsonld` (schema.org) and `rocrate` (one run as a Workflow Run RO-Crate).

May import: `kb.formats`, `kb.checking`, `kb.evidence`, `kb.running` (for `verify` in RO-Crates).
"""
