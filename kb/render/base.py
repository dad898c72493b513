"""Primitives every render module shares: the two consoles, `safe`, `print_json`, `error`.

Claim text comes from pull requests, so it is untrusted here too: it is never parsed as
rich markup (a title holding "[link=...]" stays literal) and control characters are
dropped (an escape sequence in a YAML string cannot repaint the terminal).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.text import Text

from kb.formats.errors import KbError

if TYPE_CHECKING:
    from kb.formats.schema import Status

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_STATUS_STYLE = {
    "supported": "green",
    "refuted": "red",
    "contested": "yellow",
    "untested": "dim",
    "holds": "green",
    "fails": "red",
    "inconclusive": "yellow",
}

stdout = Console(highlight=False, soft_wrap=False)
stderr = Console(stderr=True, highlight=False)


def safe(text: object, style: str = "") -> Text:
    """Untrusted text as a rich Text: literal, without control characters."""
    return Text(_CONTROL.sub("", str(text)), style=style)


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n")


def error(exc: KbError) -> None:
    for p in exc.problems[:20]:
        stderr.print(safe(str(p), "red"), soft_wrap=True)
    if len(exc.problems) > 20:
        stderr.print(safe(f"... and {len(exc.problems) - 20} more"))
    stderr.print(safe(f"error: {exc.message}", "bold red"))


def _widths(rows: Sequence[Any], **columns: Any) -> dict[str, int]:
    """Column widths that fit every value, so ids are never cut; prose columns take the rest."""
    return {name: max([len(name), *(len(get(r)) for r in rows)]) for name, get in columns.items()}


GAP = 2  # between two columns of a borderless table: one space of padding on each side


def fit_widths(
    fixed: dict[str, int],
    prose: int,
    width: int,
    *,
    prose_min: int = 12,
    drop: Sequence[str] = (),
    fold: str = "",
) -> tuple[dict[str, int], int]:
    """Widths that fit `width` columns: the fixed columns whole, the prose column the rest.

    `fixed` holds the columns in display order; the prose column (a title, a reason) comes
    last and is cut with an ellipsis, or left out (width 0) when fewer than `prose_min`
    columns remain. If the fixed columns alone do not fit, the `drop` columns are left out
    in that order (absent from the result), and last the `fold` column (an id) is narrowed
    to wrap over lines. Columns in neither (a status) are always shown whole.
    """
    used = sum(fixed.values()) + GAP * (len(fixed) - 1)
    room = width - used - GAP
    if room >= prose_min:
        return dict(fixed), min(prose, room)
    widths = dict(fixed)
    for name in drop:
        if used <= width:
            break
        used -= widths.pop(name) + GAP
    if fold and used > width:
        widths[fold] = max(4, widths[fold] - (used - width))
    return widths, 0


def _interval(v: Any) -> str:
    if v.estimate is None:
        return ""
    if v.interval is None:
        return f"{v.estimate:.4g}"
    from kb.formats.schema import interval_text

    text = interval_text(v.interval, "{:.4g}".format, "open")
    if None in v.interval:  # censored seeds leave one end open: the bound in parentheses
        return f"{v.estimate:.4g} ({text})"
    return f"{v.estimate:.4g} {text}"


def _label(status: Status | None) -> str:
    return f"{status.value.value} · {status.certainty.value}" if status else "—"
