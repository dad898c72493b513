"""Turn pydantic validation errors into located, human `Problem`s.

pydantic knows *what* is wrong and at which field path; the YAML reader knows *where*
each field path is in the file. This module joins the two and rewrites pydantic's
messages into the short form a contributor can act on, with "did you mean" hints.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from enum import Enum
from typing import Any

from pydantic import BaseModel, ValidationError

from kb.formats.errors import Problem
from kb.formats.schema import CITEKEY_PATTERN, EXPERIMENT_PATTERN, SLUG_PATTERN, FieldError
from kb.formats.yamlfile import Path_, YamlDocument

_PATTERN_HELP = {
    SLUG_PATTERN: "a lowercase slug: letters, digits and single hyphens, e.g. 'bn-reduces-ics'",
    EXPERIMENT_PATTERN: "a script name in repro/: lowercase letters, digits and underscores",
    CITEKEY_PATTERN: "a BibTeX key such as 'ioffe2015'",
}


def field_path(path: Path_) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def describe(value: Any) -> str:
    """How a YAML value is named in messages ('a list', 'the number 3', ...)."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {value!r}"
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:37] + "..."
        return f"the text {shown!r}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__}"


def suggest(word: str, options: typing.Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(options), n=1, cutoff=0.6)
    return f"; did you mean '{close[0]}'?" if close else ""


def _data_path(loc: tuple[int | str, ...], data: Any) -> Path_:
    """The part of pydantic's loc that addresses data, without union/validator tags."""
    path: list[str | int] = []
    node = data
    for part in loc:
        if isinstance(part, int) and isinstance(node, list):
            path.append(part)
            node = node[part] if part < len(node) else None
        elif isinstance(part, str) and isinstance(node, dict):
            path.append(part)
            node = node.get(part)
        elif isinstance(part, str) and node is None and path:
            path.append(part)  # a field of a missing mapping
        # anything else is pydantic's union or validator tag, e.g. 'function-after[...]'
    return tuple(path)


def _unwrap(annotation: Any) -> list[Any]:
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        out: list[Any] = []
        for arg in typing.get_args(annotation):
            out += _unwrap(arg)
        return out
    if origin in (list, tuple):
        return _unwrap(typing.get_args(annotation)[0])
    return [annotation]


def _model_at(model: type[BaseModel], path: Path_) -> type[BaseModel] | None:
    current: type[BaseModel] | None = model
    for part in path:
        if current is None:
            return None
        if isinstance(part, int):
            continue  # list item: the annotation was already unwrapped to the item type
        info = current.model_fields.get(part)
        if info is None:
            return None
        models = [
            a for a in _unwrap(info.annotation) if isinstance(a, type) and issubclass(a, BaseModel)
        ]
        current = models[0] if models else None
    return current


def _enum_values(model: type[BaseModel], path: Path_) -> list[str]:
    parent = _model_at(model, path[:-1])
    if parent is None or not path or not isinstance(path[-1], str):
        return []
    info = parent.model_fields.get(path[-1])
    if info is None:
        return []
    for ann in _unwrap(info.annotation):
        if isinstance(ann, type) and issubclass(ann, Enum):
            return [str(m.value) for m in ann]
        if typing.get_origin(ann) is typing.Literal:
            return [str(a) for a in typing.get_args(ann)]
    return []


def problems_from_validation(
    exc: ValidationError, model: type[BaseModel], doc: YamlDocument, file: str
) -> list[Problem]:
    out = []
    for err in exc.errors(include_url=False):
        path = _data_path(err["loc"], doc.data)
        message, path, on_key = _message(err, model, path)
        mark = doc.mark_of(path, key=on_key)
        if err["type"] == "missing":
            mark = doc.mark_of(path[:-1])
        out.append(Problem(file, mark.line, mark.column, field_path(path), message))
    return out


def _message(err: Any, model: type[BaseModel], path: Path_) -> tuple[str, Path_, bool]:
    kind: str = err["type"]
    value = err.get("input")
    ctx = err.get("ctx") or {}
    name = path[-1] if path else ""
    if kind == "missing":
        return f"missing required field '{name}'", path, False
    if kind == "extra_forbidden":
        parent = _model_at(model, path[:-1])
        fields = list(parent.model_fields) if parent else []
        return f"unknown field '{name}'{suggest(str(name), fields)}", path, True
    if kind == "literal_error" and path == ("schema_version",):
        return (
            (
                f"schema version {value!r} is not supported: this kb reads version "
                f"{ctx.get('expected')} (a newer file needs a newer kb)"
            ),
            path,
            False,
        )
    if kind in ("enum", "literal_error"):
        options = _enum_values(model, path)
        shown = ", ".join(options) if options else str(ctx.get("expected", ""))
        hint = suggest(str(value), options) if isinstance(value, str) else ""
        return f"{value!r} is not one of {shown}{hint}", path, False
    if kind == "string_pattern_mismatch":
        help_ = _PATTERN_HELP.get(ctx.get("pattern", ""), f"text matching {ctx.get('pattern')}")
        return f"{value!r} is not {help_}", path, False
    if kind == "value_error":
        error = ctx.get("error")
        if isinstance(error, FieldError):
            path = (*path, error.field)
        return str(error) if error else err["msg"].removeprefix("Value error, "), path, False
    if kind == "too_short":
        if isinstance(value, str):
            return "must not be empty", path, False
        return f"needs at least {ctx.get('min_length')} item(s), found {len(value)}", path, False
    if kind == "string_too_long":
        return (
            f"is {len(value):,} characters long; the limit is {ctx.get('max_length'):,}",
            path,
            False,
        )
    expected = {
        "string_type": "text",
        "int_type": "a whole number",
        "int_parsing": "a whole number",
        "int_from_float": "a whole number",
        "float_type": "a number",
        "float_parsing": "a number",
        "bool_type": "true or false",
        "bool_parsing": "true or false",
        "list_type": "a list",
        "tuple_type": "a list",
        "dict_type": "a mapping",
        "model_type": "a mapping",
        "model_attributes_type": "a mapping",
        "date_type": "a date (YYYY-MM-DD)",
        "date_parsing": "a date (YYYY-MM-DD)",
        "date_from_datetime_parsing": "a date (YYYY-MM-DD)",
        "date_from_datetime_inexact": "a date (YYYY-MM-DD)",
    }.get(kind)
    if expected:
        return f"expected {expected}, found {describe(value)}", path, False
    return f"{err['msg']}, found {describe(value)}", path, False


def toml_line_of(text: str, header: str, key: str) -> int:
    """1-based line of `key = ...` inside the `[header]` table of a TOML text; 0 if not found."""
    inside = False
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if stripped.startswith("["):
            inside = stripped.strip("[] ") == header
        elif inside and re.match(rf"""["']?{re.escape(key)}["']?\s*=""", stripped):
            return number
    return 0
