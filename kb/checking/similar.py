"""Near-identical statements: the same claim filed twice under two ids.

This module compares texts only; `kb.checking.crosscheck` turns a match into a warning at
the newer claim's statement (by `created`, then by file), naming the older one's file. Text is compared after `normalize` (case, punctuation and
spacing do not count), by the normalized Indel similarity of the two strings,
2 * LCS / (len(a) + len(b)), computed by rapidfuzz.

Comparing every pair would be quadratic (50 million pairs at 10,000 claims), so candidates
come from an inverted index first. Its keys are content-defined chunks of the normalized
text: the pieces between the cuts after words ending in "e" and, separately, in "s" (two
of the commonest word endings in English, so a cut comes every few words). A cut depends
only on the text around it, so an edit changes the one or two chunks it falls in and
leaves the others as they were: near-identical statements share most of their chunks,
unrelated ones almost none. Cutting and looking chunks up are `str.split` and set
operations, all in C; Python-level work is spent only on the rare shared chunk, and at most
`_MAX_VERIFY` candidates are scored per statement. Identical text after normalization is
found exactly, by a dictionary. Known blind spot: a pair with every chunk edited (short
statements, or ones edited all along) is missed unless identical after normalization.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass

# Below 0.9 lie rewordings that may well be different claims; at or above it, statements
# differ by at most a tenth of their characters, e.g. one word changed in a statement of
# typical length (~360 characters), or a tense changed in a short one. The most similar
# distinct statements in claims/ score 0.55 (measured when this check was added).
THRESHOLD = 0.9

_CUTS = ("e ", "s ")
# Characters; shorter chunks ("th", "in a") are shared by unrelated text, so the first time
# one is shared it joins the stock phrases.
_MIN_CHUNK = 12
# A chunk already seen in this many distinct statements is a stock phrase ("the learning
# rat"), not evidence of a duplicate: it is no longer used to find candidates.
_STOCK = 8
_MAX_VERIFY = 4  # candidates scored per statement, those sharing the most chunks first

_ASCII_TABLE = "".join(chr(c).lower() if chr(c).isalnum() else " " for c in range(128))
_NOT_WORD = re.compile(r"[\W_]+")


@dataclass(frozen=True)
class Match:
    """Text number `later` is near-identical to the earlier text number `earlier`."""

    later: int
    earlier: int
    similarity: float  # 1.0: identical after normalization


def normalize(text: str) -> str:
    """Lower case, every run of non-alphanumeric characters one space, no outer spaces."""
    if text.isascii():  # the common case, done by C-level translate instead of a regex
        out = text.translate(_ASCII_TABLE)
        while "  " in out:
            out = out.replace("  ", " ")
        return out.strip()
    # NFKC folds compatibility forms (ligatures, full-width letters) into plain letters.
    return _NOT_WORD.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def similarity(a: str, b: str) -> float:
    """Similarity of two texts after normalization, from 0 (nothing shared) to 1."""
    from rapidfuzz.distance import Indel

    return float(Indel.normalized_similarity(normalize(a), normalize(b)))


def near_duplicates(texts: Sequence[str], threshold: float = THRESHOLD) -> list[Match]:
    """Each text that is near-identical to an earlier one, with the earlier one it matches best.

    A text found to duplicate an earlier one is not indexed itself: a cluster of copies is
    represented by its first member, so even thousands of copies cost one comparison each.
    """
    normalized = [normalize(t) for t in texts]
    first_seen: dict[str, int] = {}
    first_holder: dict[str, int] = {}  # chunk -> the first indexed text that has it
    more_holders: dict[str, list[int]] = {}  # chunk -> the later ones, for the few shared chunks
    stock: set[str] = set()
    found: list[Match] = []
    score = None
    for i, text in enumerate(normalized):
        if text in first_seen:
            found.append(Match(i, first_seen[text], 1.0))
            continue
        first_seen[text] = i
        # Set operations only, all in C: most texts share no chunk with any earlier one.
        chunks = set(text.split(_CUTS[0]))
        chunks.update(text.split(_CUTS[1]))
        chunks -= stock
        shared = chunks & first_holder.keys()
        best: Match | None = None
        candidates: list[int] = []
        for chunk in shared:
            holders = more_holders.setdefault(chunk, [first_holder[chunk]])
            if len(holders) >= _STOCK or len(chunk) < _MIN_CHUNK:
                stock.add(chunk)
            else:
                candidates += holders
        if candidates:
            if score is None:
                from rapidfuzz.distance import Indel  # ~10 ms, paid only when there are candidates

                score = Indel.normalized_similarity
            counts = Counter(candidates).items()
            ranked = sorted(counts, key=lambda item: (-item[1], item[0]))[:_MAX_VERIFY]
            for j, _ in ranked:
                value = float(score(text, normalized[j], score_cutoff=threshold))
                if value >= threshold and (best is None or value > best.similarity):
                    best = Match(i, j, value)
        if best is not None:
            found.append(best)
            continue
        first_holder.update(dict.fromkeys(chunks - shared, i))
        for chunk in shared - stock:
            more_holders[chunk].append(i)
    return found
