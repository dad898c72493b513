"""Write a claim's derived `status:` block back into its YAML file, like a lock file.

Contributors own every other byte of a claim file (comments, folded text, key order, blank
lines), so only the top-level `status:` block is replaced, or appended when absent. The
block is found through the YAML node tree, not by pattern-matching text, and is emitted
deterministically: the same status always gives the same bytes, so an unchanged status
leaves the file untouched.
"""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Any

import yaml

from kb.formats import yamlfile
from kb.formats.errors import KbError
from kb.formats.records import atomic_write
from kb.formats.schema import Status

STATUS_KEY = "status"
_BOM = "\ufeff"


class _FlowList(list[Any]):
    """A short list written inline, e.g. `interval: [1.2, 1.9]`."""


class ClaimDumper(yaml.SafeDumper):
    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        # Indent list items under their key, as the claim files are written by hand.
        super().increase_indent(flow, False)


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # PyYAML writes NEL (U+0085) raw inside single quotes, where a reader folds it into a
    # space; double quotes escape it as \N.
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style='"' if "\x85" in value else None)


ClaimDumper.add_representer(str, _str)
ClaimDumper.add_representer(
    _FlowList, lambda d, v: d.represent_sequence("tag:yaml.org,2002:seq", v, flow_style=True)
)


def _plain(value: Any) -> Any:
    """Model dump → YAML-ready data: enum values, dates kept as dates, pairs written inline."""
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return _FlowList(_plain(v) for v in value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def status_yaml(status: Status, line_break: str = "\n") -> str:
    """The `status:` block exactly as written: model field order, defaults left out."""
    data = {STATUS_KEY: _plain(status.model_dump(mode="python", exclude_defaults=True))}
    return yaml.dump(  # a very wide line keeps long reasons on one line, never folded
        data, Dumper=ClaimDumper, sort_keys=False, default_flow_style=False, allow_unicode=True,
        width=1_000_000, line_break=line_break,
    )


def _lines(text: str) -> list[int]:
    """Offset where each line starts, breaking lines where YAML (and its marks) does."""
    starts, i, n = [0], 0, len(text)
    while i < n:
        ch = text[i]
        if ch == "\r" and i + 1 < n and text[i + 1] == "\n":
            i += 1
        if ch in "\n\r\x85\u2028\u2029":
            starts.append(i + 1)
        i += 1
    return starts


def _last_content_line(node: yaml.Node) -> int:
    """0-based line of the last character of `node`'s own text.

    Block collections end where the next token starts, after any trailing comments and blank
    lines, so their end is taken from their last child instead; scalars and flow collections
    end where their text ends.
    """
    if isinstance(node, yaml.CollectionNode) and not node.flow_style and node.value:
        last = node.value[-1]
        return _last_content_line(last[1] if isinstance(last, tuple) else last)
    end = node.end_mark
    return end.line if end.column > 0 else end.line - 1


def _block_span(text: str, root: yaml.Node) -> tuple[int, int] | None:
    """Character span of the top-level status block (key line to its last line), if any."""
    if not isinstance(root, yaml.MappingNode):
        raise KbError("a claim file must be a mapping of fields")
    for key, value in root.value:
        if key.value == STATUS_KEY:
            if root.flow_style:
                raise KbError("cannot write the status into a claim written as a flow mapping {...}")
            starts = _lines(text)
            first, last = key.start_mark.line, max(_last_content_line(value), key.start_mark.line)
            end = starts[last + 1] if last + 1 < len(starts) else len(text)
            return starts[first], end
    return None


def render(body: str, status: Status) -> str:
    """A claim file's text (decoded, without BOM) with its status block replaced or appended."""
    doc = yamlfile.parse(body.encode("utf-8"))
    line_break = "\r\n" if "\r\n" in body else "\n"
    block = status_yaml(status, line_break)
    span = _block_span(body, doc.root) if doc.root is not None else None
    if span is None:
        if body and not body.endswith(("\n", "\r")):
            body += line_break
        return body + block
    start, end = span
    if not body[start:end].endswith(("\n", "\r", "\x85", "\u2028", "\u2029")):
        block = block.removesuffix(line_break)  # the block ended the file without a newline
    return body[:start] + block + body[end:]


def write_status(path: Path, status: Status) -> bool:
    """Put `status` into the claim file at `path`; return whether the file changed."""
    raw = path.read_bytes()
    old = yamlfile.decode(raw)  # without the BOM, which is put back as it was
    new = render(old, status)
    if new == old:
        return False
    _check(old, new, status)
    atomic_write(path, (_BOM if raw.startswith(_BOM.encode()) else "") + new)
    return True


def _check(old: str, new: str, status: Status) -> None:
    """Refuse to write anything but the intended change (a bug here would corrupt claims)."""
    before = yamlfile.parse(old.encode("utf-8")).data
    after = yamlfile.parse(new.encode("utf-8")).data
    before.pop(STATUS_KEY, None)
    written = Status.model_validate(after.pop(STATUS_KEY))
    if before != after or written != status:
        raise RuntimeError("writing the status block would change other fields; file left as it was")


