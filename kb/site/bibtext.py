r"""BibTeX LaTeX as Unicode for readers: `Jastrz{\k{e}}bski` -> Jastrzębski, `G{\'e}rard` -> Gérard.

`kb.formats.bib` keeps display text close to the file (braces dropped), which loses the
argument of an accent command. The site re-reads the raw values with bibtexparser's
LaTeX-decoding middleware and uses the decoded title, authors and venue; anything it cannot
read falls back to the text `kb.formats.bib` gave. (Once `kb.formats.bib` decodes at parse
time, this module can go.)
"""

from __future__ import annotations

import logging
import re
from dataclasses import replace
from pathlib import Path

from kb.formats.bib import Reference


def _squash(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def decoded(path: Path, refs: dict[str, Reference]) -> dict[str, Reference]:
    """`refs` with title, authors and venue decoded from the raw entries in `path`."""
    if not refs or not path.is_file():
        return refs
    try:
        import bibtexparser
        from bibtexparser.middlewares import LatexDecodingMiddleware

        logging.getLogger("bibtexparser").setLevel(logging.CRITICAL)
        library = bibtexparser.parse_string(
            path.read_text(encoding="utf-8"), append_middleware=[LatexDecodingMiddleware()]
        )
    except (OSError, UnicodeDecodeError, ValueError):
        return refs
    out = dict(refs)
    for entry in library.entries:
        ref = refs.get(entry.key)
        if ref is None:
            continue
        fields = {name.lower(): f.value for name, f in entry.fields_dict.items() if isinstance(f.value, str)}
        authors = tuple(
            _squash(a) for a in re.split(r"\s+and\s+", fields.get("author", "")) if a.strip()
        )
        venue = fields.get("journal") or fields.get("booktitle") or fields.get("publisher")
        out[entry.key] = replace(
            ref,
            title=_squash(fields.get("title", "")) or ref.title,
            authors=authors if len(authors) == len(ref.authors) else ref.authors,
            venue=_squash(venue) if venue else ref.venue,
        )
    return out
