"""The bibliography: `claims/references.bib`, read with bibtexparser.

Each entry must carry title, author and year, and a way to find the work (doi, eprint or
url). Problems are located by line like every other error; entries no claim cites are
warnings (they may be on their way in with the next pull request).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from kb.formats.errors import Problem, Severity
from kb.formats.files import FileRefused, read_inside

REQUIRED_FIELDS = ("title", "author", "year")
LOCATOR_FIELDS = ("doi", "eprint", "url")
# A reference is ~400 bytes of BibTeX, so 2 MB is ~5,000 entries: some seventy times this
# knowledge base's bibliography, parsed in about a second. A 15 MB file took over a minute
# to check, and is a generated dump or an attack, not a curated list.
MAX_BYTES = 2_000_000


ARXIV_ID = re.compile(r"\d{4}\.\d{4,5}(v\d+)?")  # new-style arXiv ids (2007 on)


@dataclass(frozen=True)
class Reference:
    key: str
    entry_type: str
    title: str
    authors: tuple[str, ...]  # "Last, First" as written
    year: str
    doi: str | None
    eprint: str | None
    url: str | None
    venue: str | None
    line: int  # 1-based line of the '@type{key,' header

    @property
    def short_authors(self) -> str:
        """'Ioffe & Szegedy', 'Santurkar et al.': how the site and CLI name a work."""
        last = [a.split(",")[0].strip() if "," in a else a.split()[-1] for a in self.authors]
        if len(last) == 1:
            return last[0]
        if len(last) == 2:
            return f"{last[0]} & {last[1]}"
        return f"{last[0]} et al."

    @property
    def arxiv_id(self) -> str | None:
        """The eprint when it is a new-style arXiv id (2007 on), else None."""
        if self.eprint and ARXIV_ID.fullmatch(self.eprint):
            return self.eprint
        return None

    @property
    def link(self) -> str | None:
        if self.doi:
            return f"https://doi.org/{self.doi}"
        if self.arxiv_id:
            return f"https://arxiv.org/abs/{self.arxiv_id}"
        return self.url


def _plain(value: str) -> str:
    """BibTeX value as display text: braces dropped, escapes undone, spaces collapsed."""
    text = value.replace(r"\&", "&").replace("{", "").replace("}", "")
    return re.sub(r"\s+", " ", text).strip()


def read_references(
    path: Path, shown_as: str, *, root: Path | None = None
) -> tuple[dict[str, Reference], list[Problem]]:
    """Parse a .bib file; return entries by key and every problem found in it.

    Only a regular file of at most MAX_BYTES inside `root` (default: the file's folder)
    is read; see kb/formats/files.py.
    """
    import bibtexparser  # ~60 ms: only commands that need references pay for it
    from bibtexparser.model import DuplicateBlockKeyBlock

    problems: list[Problem] = []
    if not path.exists() and not path.is_symlink():
        return {}, [Problem(shown_as, 0, 0, "", "references file is missing: create it (BibTeX)")]
    try:
        raw = read_inside(path, root if root is not None else path.parent, MAX_BYTES)
    except FileRefused as exc:
        return {}, [Problem(shown_as, 1, 1, "", exc.message)]
    except OSError as exc:
        return {}, [Problem(shown_as, 1, 1, "", f"cannot read file: {exc.strerror}")]
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        return {}, [Problem(shown_as, line, 1, "", "not UTF-8 text")]
    # bibtexparser logs each failed block; we report them ourselves, located.
    logging.getLogger("bibtexparser").setLevel(logging.CRITICAL)
    library = bibtexparser.parse_string(text)
    for block in library.failed_blocks:
        line = (block.start_line or 0) + 1
        if isinstance(block, DuplicateBlockKeyBlock):
            message = f"duplicate entry key '{block.key}'"
        else:
            message = "cannot parse this entry: check braces, quotes and the commas between fields"
        problems.append(Problem(shown_as, line, 1, "", message))
    refs: dict[str, Reference] = {}
    for entry in library.entries:
        fields = {name.lower(): _plain(f.value) for name, f in entry.fields_dict.items()}
        line = (entry.start_line or 0) + 1
        where = f"@{entry.entry_type}{{{entry.key}}}"
        for name in REQUIRED_FIELDS:
            if not fields.get(name):
                problems.append(Problem(shown_as, line, 1, where, f"missing field '{name}'"))
        if not any(fields.get(name) for name in LOCATOR_FIELDS):
            problems.append(
                Problem(
                    shown_as, line, 1, where, "needs one of doi, eprint or url to find the work"
                )
            )
        if fields.get("year") and not re.fullmatch(r"\d{4}", fields["year"]):
            problems.append(
                Problem(shown_as, line, 1, where, f"year {fields['year']!r} is not a 4-digit year")
            )
        refs[entry.key] = Reference(
            key=entry.key,
            entry_type=entry.entry_type.lower(),
            title=fields.get("title", ""),
            authors=tuple(
                a.strip() for a in re.split(r"\s+and\s+", fields.get("author", "")) if a.strip()
            ),
            year=fields.get("year", ""),
            doi=fields.get("doi"),
            eprint=fields.get("eprint"),
            url=fields.get("url"),
            venue=fields.get("journal") or fields.get("booktitle") or fields.get("publisher"),
            line=line,
        )
    return refs, problems


def unused_warnings(refs: dict[str, Reference], used: set[str], shown_as: str) -> list[Problem]:
    return [
        Problem(
            shown_as,
            ref.line,
            1,
            f"@{ref.entry_type}{{{key}}}",
            "not cited by any claim",
            Severity.warning,
        )
        for key, ref in refs.items()
        if key not in used
    ]
