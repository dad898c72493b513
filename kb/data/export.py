"""Exports for other tools: tables (CSV, Parquet, JSON), the cited works (BibTeX) and the
knowledge base as linked data (schema.org JSON-LD).

Every export is written into a temporary folder beside the output and moved into place
only once it is complete (`staged`), so a failure never leaves a half-written file.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from kb.checking.knowledge import REFERENCES_FILE, KnowledgeBase
from kb.formats.errors import KbError
from kb.formats.files import new_folder_mode

if TYPE_CHECKING:
    from bibtexparser.model import Block

EXPORT_DIR = "export"  # the default output folder, in the knowledge-base root (git-ignored)
TABLE_FORMATS = ("csv", "parquet", "json")
FORMATS = (*TABLE_FORMATS, "bibtex", "jsonld")
BIBTEX_FILE = "references.bib"
JSONLD_FILE = "knowledge-base.jsonld"


@dataclass(frozen=True)
class ExportReport:
    files: list[Path]
    rows: dict[str, int]  # what was written, counted: table -> rows, or "references" -> entries


def export(
    kb: KnowledgeBase, output: Path | None, fmt: str, *, all_references: bool = False
) -> ExportReport:
    """Write the export `fmt` into the folder `output` (created if missing); by default
    `export/` in the knowledge-base root, wherever kb runs from."""
    output = output if output is not None else kb.root / EXPORT_DIR
    if fmt not in FORMATS:
        raise KbError(f"unknown export format '{fmt}': use one of {', '.join(FORMATS)}")
    if all_references and fmt != "bibtex":
        raise KbError("--all-references only applies to --format bibtex")
    with staged(output) as stage:
        if fmt == "bibtex":
            rows = _bibtex(kb, stage / BIBTEX_FILE, all_references)
        elif fmt == "jsonld":
            rows = _jsonld(kb, stage / JSONLD_FILE)
        else:
            rows = _tables(kb, stage, fmt)
        names = files_in(stage)
    return ExportReport([output / name for name in names], rows)


def _tables(kb: KnowledgeBase, folder: Path, fmt: str) -> dict[str, int]:
    import pandas as pd

    from kb.data.tables import TABLES, flatten
    from kb.formats.records import read_records

    records, _ = read_records(kb.root)
    rows = flatten(kb, records)
    for name in TABLES:
        frame = pd.DataFrame.from_records(rows[name])
        path = folder / f"{name}.{fmt}"
        if fmt == "csv":
            frame.to_csv(path, index=False)
        elif fmt == "parquet":
            frame.to_parquet(path, index=False)
        else:
            frame.to_json(path, orient="records", indent=2, force_ascii=False)
    return {name: len(rows[name]) for name in TABLES}


def _bibtex(kb: KnowledgeBase, path: Path, all_references: bool) -> dict[str, int]:
    """The entries of references.bib that some claim cites (or all), as the file has them."""
    import bibtexparser
    from bibtexparser.model import Entry, Preamble, String

    cited = _cited(kb)
    library = bibtexparser.parse_file(str(kb.root / REFERENCES_FILE))
    # @string macros and preambles are kept: a kept entry may use them. Comments are not.
    blocks = [
        b
        for b in library.blocks
        if isinstance(b, String | Preamble)
        or (isinstance(b, Entry) and (all_references or b.key in cited))
    ]
    path.write_text(format_bibtex(blocks), encoding="utf-8")
    return {"references": sum(isinstance(b, Entry) for b in blocks)}


def format_bibtex(blocks: Sequence[Block]) -> str:
    """BibTeX text written by bibtexparser: two-space indent, aligned values, trailing commas."""
    import bibtexparser
    from bibtexparser import BibtexFormat

    style = BibtexFormat()
    style.indent = "  "
    style.value_column = "auto"
    style.trailing_comma = True
    return bibtexparser.write_string(bibtexparser.Library(list(blocks)), bibtex_format=style)


def _jsonld(kb: KnowledgeBase, path: Path) -> dict[str, int]:
    from kb.data import jsonld

    data = jsonld.knowledge_base(kb)
    path.write_text(
        json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8"
    )
    return {
        "claims": len(kb.claims),
        "predictions": sum(len(loaded.claim.predictions) for loaded in kb.claims.values()),
        "references": len(_cited(kb) & set(kb.references)),
    }


def _cited(kb: KnowledgeBase) -> set[str]:
    """The citekeys some claim cites."""
    return {s.citekey for loaded in kb.claims.values() for s in loaded.claim.sources}


@contextmanager
def staged(output: Path, *, replace: bool = False) -> Iterator[Path]:
    """A temporary folder beside `output` whose files are moved into `output` on success.

    Each file lands with an atomic rename, so a reader sees the old or the new file. With
    `replace`, the whole folder is swapped instead (an RO-Crate must not keep stale files);
    `replace` refuses a folder that is neither empty nor an earlier crate.
    """
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        if output.exists() and not output.is_dir():
            raise KbError(f"cannot write to {output}: it is a file, not a folder")
        stage = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent))
        stage.chmod(new_folder_mode())  # mkdtemp makes it 0700; it becomes `output`
    except OSError as exc:
        raise KbError(f"cannot write to {output}: {exc.strerror or exc}") from None
    try:
        yield stage
        try:
            if replace:
                _swap(stage, output)
            else:
                _merge(stage, output)
        except OSError as exc:
            raise KbError(f"cannot write to {output}: {exc.strerror or exc}") from None
    finally:
        shutil.rmtree(stage, ignore_errors=True)


def _merge(stage: Path, output: Path) -> None:
    if not output.exists():
        stage.rename(output)
        return
    for name in files_in(stage):
        target = output / name
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(stage / name, target)


def files_in(folder: Path) -> list[Path]:
    """The files under `folder`, as sorted paths relative to it."""
    return sorted(p.relative_to(folder) for p in folder.rglob("*") if p.is_file())


def _swap(stage: Path, output: Path) -> None:
    if output.exists() and any(output.iterdir()):
        if not (output / "ro-crate-metadata.json").is_file():
            raise KbError(
                f"{output} is not empty and holds no RO-Crate: choose a new folder or empty it"
            )
        old = Path(tempfile.mkdtemp(prefix=f".{output.name}.old.", dir=output.parent))
        output.rename(old / output.name)
        stage.rename(output)
        shutil.rmtree(old, ignore_errors=True)
    else:
        if output.exists():
            output.rmdir()
        stage.rename(output)
