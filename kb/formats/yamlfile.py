"""Read one YAML file safely and remember where every value came from.

Claim files arrive by pull request, so they are untrusted. We let libyaml's C parser
compose the node graph (fast, and it never constructs objects), then walk the nodes
ourselves: only plain YAML types are accepted, duplicate keys are errors, alias
expansion and nesting are bounded, and every value's line and column is recorded under
its field path so later validation errors can point at the offending node.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

import yaml
import yaml.constructor

MAX_BYTES = 1_000_000  # a claim is a page of text; anything larger is a mistake or an attack
MAX_NODES = 20_000  # values after alias expansion: bounds "billion laughs"
MAX_DEPTH = 32  # nesting depth; claims need about five

Path_ = tuple[str | int, ...]

_ALLOWED_SCALAR_TAGS = {
    "tag:yaml.org,2002:str",
    "tag:yaml.org,2002:int",
    "tag:yaml.org,2002:float",
    "tag:yaml.org,2002:bool",
    "tag:yaml.org,2002:null",
    "tag:yaml.org,2002:timestamp",
}
_STR_TAG = "tag:yaml.org,2002:str"
_MAP_TAG = "tag:yaml.org,2002:map"
_SEQ_TAG = "tag:yaml.org,2002:seq"
_MERGE_TAG = "tag:yaml.org,2002:merge"

try:  # libyaml is ~7x faster; fall back to the pure-Python parser where it is missing
    _Base: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - depends on how PyYAML was built
    _Base = yaml.SafeLoader


_FIRST_CHAR: dict[str, tuple[tuple[str, Any], ...]] = {
    k: tuple(v) for k, v in yaml.resolver.Resolver.yaml_implicit_resolvers.items()
}


class _Loader(_Base):  # type: ignore[valid-type,misc]
    """The safe loader, with PyYAML's tag resolution in a leaner form.

    The parser asks for the tag of every untagged node (a hundred per claim). This gives
    the answers `BaseResolver.resolve` gives for the safe loader's resolvers (keyed by
    first character, none for any character, no path resolvers: the test suite checks
    that), with less work per call, which saves a tenth of a cold `kb check`'s parsing.
    """

    def resolve(self, kind: type, value: Any, implicit: tuple[bool, bool]) -> str:
        if kind is yaml.ScalarNode:
            if implicit[0]:
                for tag, regexp in _FIRST_CHAR.get(value[:1], ()):
                    if regexp.match(value):
                        return tag  # type: ignore[no-any-return]
            return _STR_TAG
        return _SEQ_TAG if kind is yaml.SequenceNode else _MAP_TAG


_constructor = yaml.constructor.SafeConstructor()


@dataclass(frozen=True)
class Mark:
    line: int  # 1-based
    column: int  # 1-based


class YamlProblem(Exception):
    """A file that is not acceptable YAML; carries the location of the first fault."""

    def __init__(self, message: str, mark: Mark = Mark(0, 0), field: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.mark = mark
        self.field = field


@dataclass
class YamlDocument:
    """Plain data of one file plus its node tree, kept to locate problems after the fact.

    Marks are looked up only when a problem needs one: most files are valid, and recording
    a mark per value while converting would cost more than parsing the file.
    """

    data: Any
    root: yaml.Node | None = None

    def _node(self, path: Path_) -> tuple[yaml.Node | None, yaml.Node | None, int]:
        """(value node, key node, depth reached) for `path`, following it as far as it goes."""
        node, key_node = self.root, None
        for depth, part in enumerate(path):
            if isinstance(node, yaml.MappingNode) and isinstance(part, str):
                match = next(((k, v) for k, v in node.value if k.value == part), None)
                if match is None:
                    return node, None, depth
                key_node, node = match
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
                key_node, node = None, node.value[part]
            else:
                return node, None, depth
        return node, key_node, len(path)

    def mark_of(self, path: Path_, *, key: bool = False) -> Mark:
        """Where the value (or with key=True, the key) at `path` is; else its nearest ancestor."""
        node, key_node, reached = self._node(path)
        if key and key_node is not None and reached == len(path):
            return _mark(key_node)
        return _mark(node) if node is not None else Mark(1, 1)


def _mark(node: yaml.Node) -> Mark:
    m = node.start_mark
    return Mark(m.line + 1, m.column + 1)


def _describe(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    return "a scalar"


def decode(raw: bytes) -> str:
    """UTF-8 text of a file, or a YamlProblem saying where the encoding breaks."""
    if len(raw) > MAX_BYTES:
        raise YamlProblem(f"file is {len(raw):,} bytes; the limit is {MAX_BYTES:,}", Mark(1, 1))
    if b"\x00" in raw:
        offset = raw.index(b"\x00")
        line = raw.count(b"\n", 0, offset) + 1
        column = offset - (raw.rfind(b"\n", 0, offset) + 1) + 1
        raise YamlProblem("binary file (NUL byte): expected UTF-8 text", Mark(line, column))
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        column = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise YamlProblem(
            f"not UTF-8: byte 0x{raw[exc.start]:02x} cannot be decoded", Mark(line, column)
        ) from None
    return text.removeprefix("\ufeff")


def parse(raw: bytes) -> YamlDocument:
    """Parse one YAML document of plain data; raise YamlProblem otherwise."""
    text = decode(raw)
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = Mark(mark.line + 1, mark.column + 1) if mark else Mark(1, 1)
        what = exc.problem or exc.context or "invalid YAML"
        if mark and mark.index < len(text) and text[mark.index] == "\t":
            what += " (a tab: YAML is indented with spaces)"
        if "single document" in (exc.context or ""):
            what = "more than one YAML document: a claim file holds exactly one"
        raise YamlProblem(f"invalid YAML: {what}", where) from None
    except yaml.YAMLError as exc:
        raise YamlProblem(f"invalid YAML: {exc}", Mark(1, 1)) from None
    finally:
        loader.dispose()
    if root is None:
        raise YamlProblem("file is empty: expected a mapping of claim fields", Mark(1, 1))
    return YamlDocument(data=_to_python(root), root=root)


def _field(trail: Any) -> str:
    """Field path text from the (parent, key) trail built while converting."""
    parts: list[str | int] = []
    while trail is not None:
        trail, part = trail
        parts.append(part)
    out = ""
    for part in reversed(parts):
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def _to_python(root: yaml.Node) -> Any:
    """Plain Python data of a node tree, enforcing the rules in the module docstring.

    The trail is a linked list (parent trail, key) so that no path is built unless a
    problem needs to name it.
    """
    budget = MAX_NODES
    scalar_node, sequence_node, mapping_node = yaml.ScalarNode, yaml.SequenceNode, yaml.MappingNode
    constructors = _constructor.yaml_constructors

    def convert(node: yaml.Node, trail: Any, depth: int) -> Any:
        nonlocal budget
        budget -= 1
        if budget < 0:
            raise YamlProblem(
                f"more than {MAX_NODES:,} values after expanding aliases (an alias bomb?)",
                _mark(node),
                _field(trail),
            )
        cls = type(node)
        if cls is scalar_node:
            tag = node.tag
            if tag == _STR_TAG:
                return node.value  # the common case, without the constructor's overhead
            if tag not in _ALLOWED_SCALAR_TAGS:
                raise YamlProblem(_tag_message(tag), _mark(node), _field(trail))
            try:
                value = constructors[tag](_constructor, node)
            except (ValueError, yaml.YAMLError) as exc:
                raise YamlProblem(f"cannot read value {node.value!r}: {exc}", _mark(node), _field(trail)) from None
            if isinstance(value, dt.datetime):
                # A time of day is never meant in a claim; keep the text so validation
                # reports "expected a date" rather than truncating silently.
                return node.value
            return value
        if depth > MAX_DEPTH:
            raise YamlProblem(f"nested deeper than {MAX_DEPTH} levels", _mark(node), _field(trail))
        # A plain string child is taken inline, without a call: most values of a claim are
        # strings, and a call per value was a fifth of a cold `kb check`. `budget > 0` keeps
        # the alias-bomb limit exact: the value that would cross it goes through `convert`.
        if cls is sequence_node:
            if node.tag != _SEQ_TAG:
                raise YamlProblem(_tag_message(node.tag), _mark(node), _field(trail))
            items: list[Any] = []
            for i, item in enumerate(node.value):
                if type(item) is scalar_node and item.tag == _STR_TAG and budget > 0:
                    budget -= 1
                    items.append(item.value)
                else:
                    items.append(convert(item, (trail, i), depth + 1))  # noqa: F821 (deleted only after the last call, below)
            return items
        if cls is mapping_node:
            if node.tag != _MAP_TAG:
                raise YamlProblem(_tag_message(node.tag), _mark(node), _field(trail))
            out: dict[str, Any] = {}
            for key_node, value_node in node.value:
                if type(key_node) is not scalar_node:
                    raise YamlProblem(
                        f"a mapping key must be a plain name, found {_describe(key_node)}",
                        _mark(key_node),
                        _field(trail),
                    )
                if key_node.tag != _STR_TAG:
                    if key_node.tag == _MERGE_TAG:
                        raise YamlProblem(
                            "merge keys ('<<') are not supported: write the fields out",
                            _mark(key_node),
                            _field(trail),
                        )
                    if key_node.tag not in _ALLOWED_SCALAR_TAGS:
                        raise YamlProblem(_tag_message(key_node.tag), _mark(key_node), _field(trail))
                # Keys are taken as written: `on:` or `1:` stay names, not booleans or numbers.
                key = key_node.value
                if key in out:
                    first = next(k for k, _ in node.value if k.value == key)
                    raise YamlProblem(
                        f"duplicate key '{key}' (first defined at line {first.start_mark.line + 1})",
                        _mark(key_node),
                        _field((trail, key)),
                    )
                if type(value_node) is scalar_node and value_node.tag == _STR_TAG and budget > 0:
                    budget -= 1
                    out[key] = value_node.value
                else:
                    out[key] = convert(value_node, (trail, key), depth + 1)  # noqa: F821 (see above)
            return out
        raise YamlProblem(f"unsupported YAML node {cls.__name__}", _mark(node), _field(trail))  # pragma: no cover

    try:
        return convert(root, None, 0)
    finally:
        # `convert` refers to itself through its closure: a cycle only the garbage collector
        # could free, and kb.checking.load pauses it while parsing thousands of files.
        del convert


def _tag_message(tag: str) -> str:
    shown = tag.replace("tag:yaml.org,2002:", "!!")
    return (
        f"tag '{shown}' is not allowed: claim files hold plain YAML "
        "(strings, numbers, booleans, null, dates, lists and mappings)"
    )
