"""Reading spec YAML from users with bounds, so that no file can take the machine.

The rules (each message states the one it hit):

* a spec file (or ``-f -`` input) is at most :data:`MAX_FILE_BYTES` (1 MiB); a ``--set`` value at
  most :data:`MAX_VALUE_CHARS`;
* text is UTF-8 (a UTF-8 byte-order mark is fine; UTF-16/32 with a byte-order mark is decoded);
  other bytes, and NUL bytes, are refused as "not a text file";
* nesting is at most :data:`MAX_DEPTH` levels (a real spec has fewer than 10);
* anchors and aliases are allowed, but each document may expand to at most
  :data:`MAX_EXPANDED_NODES` nodes counting every alias as the copy it stands for, and an alias
  may not refer to the node that contains it. A 548-byte "billion laughs" file is refused while it
  is being read, before anything is built from it;
* a key written twice in one mapping is refused with both lines (PyYAML would keep the last one);
* messages give the source, line and column, never the input.
"""

from __future__ import annotations

import codecs
from pathlib import Path
from typing import Any

import yaml

from kubegce.errors import UserError
from kubegce.spec.text import shown, shown_key

MAX_FILE_BYTES = 1024 * 1024
MAX_VALUE_CHARS = 64 * 1024
MAX_DEPTH = 50
MAX_EXPANDED_NODES = 20_000


class YamlLimitError(UserError):
    """The YAML is well formed but too big, too deep or expands too far."""


class DuplicateKeyError(UserError):
    """A mapping names the same key twice."""


def _where(mark: yaml.Mark | None) -> str:
    return f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's safe loader, measuring every composed node: expanded size and depth, with aliases
    counted as the copies they stand for. Children are measured before their parent, and an alias
    can only name a node composed earlier, so each node is measured once from its children's sums."""

    def __init__(self, stream: str, source: str) -> None:
        super().__init__(stream)
        self.source = source
        self._depth = 0
        self._measure: dict[int, tuple[int, int]] = {}  # id(node) -> (expanded nodes, expanded depth)

    def compose_document(self) -> yaml.Node | None:
        self._measure = {}
        node = super().compose_document()
        self._measure = {}
        return node

    def _limit(self, what: str, mark: yaml.Mark | None) -> YamlLimitError:
        return YamlLimitError(f"{self.source}: refused{_where(mark)}: {what}")

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()  # type: ignore[no-untyped-call]
            target = self.anchors.get(event.anchor)
            if target is not None and id(target) not in self._measure:
                raise self._limit(
                    f"alias *{shown(event.anchor)} refers to the node that contains it; a spec cannot contain itself",
                    event.start_mark,
                )
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise self._limit(f"nesting deeper than {MAX_DEPTH} levels; a cluster spec needs fewer than 10", mark)
            node: yaml.Node | None = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if node is not None and id(node) not in self._measure:
            self._measure[id(node)] = self._measured(node)
        return node

    def _measured(self, node: yaml.Node) -> tuple[int, int]:
        children: list[yaml.Node] = []
        if isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        elif isinstance(node, yaml.MappingNode):
            self._no_duplicate_keys(node)
            children = [n for pair in node.value for n in pair]
        size, depth = 1, 1
        for child in children:
            child_size, child_depth = self._measure.get(id(child), (1, 1))
            size += child_size
            depth = max(depth, child_depth + 1)
        if size > MAX_EXPANDED_NODES:
            raise self._limit(
                f"the document expands to more than {MAX_EXPANDED_NODES} values through YAML aliases "
                "(*name); write the values out or use fewer aliases",
                node.start_mark,
            )
        if depth > MAX_DEPTH:
            raise self._limit(f"nesting deeper than {MAX_DEPTH} levels once aliases are expanded", node.start_mark)
        return size, depth

    def _no_duplicate_keys(self, node: yaml.MappingNode) -> None:
        """A key written twice in one mapping (PyYAML keeps the last one silently) is refused with
        both lines: which of two `machineType:` lines was meant is the user's call."""
        first: dict[tuple[str, str], yaml.Node] = {}
        for key, _ in node.value:
            if not isinstance(key, yaml.ScalarNode) or key.tag == "tag:yaml.org,2002:merge":
                continue  # `<<:` merge keys may repeat; complex keys are refused by the models
            seen = first.setdefault((key.tag, key.value), key)
            if seen is not key:
                raise DuplicateKeyError(
                    f"{self.source}: line {key.start_mark.line + 1}: key {shown_key(key.value)} is written twice "
                    f"in one mapping (first at line {seen.start_mark.line + 1}); YAML would keep only the last: "
                    "remove the one you did not mean"
                )


MAX_INT_DIGITS = 30


def _construct_int(loader: yaml.SafeLoader, node: yaml.ScalarNode) -> Any:
    if len(node.value) > MAX_INT_DIGITS:
        raise yaml.constructor.ConstructorError(
            None, None, f"a number of {len(node.value)} characters; numbers in a spec are short", node.start_mark
        )
    return loader.construct_yaml_int(node)


_BoundedLoader.add_constructor("tag:yaml.org,2002:int", _construct_int)


def yaml_error_message(exc: yaml.YAMLError, source: str) -> str:
    """One line naming the source, the place and the problem (PyYAML's own text names
    ``<unicode string>`` and quotes the input)."""
    if isinstance(exc, yaml.reader.ReaderError):
        char = exc.character
        code = char if isinstance(char, int) else ord(char) if char else 0
        return f"{source}: not valid YAML: character #x{code:04x} at offset {exc.position} is not allowed in YAML text"
    if isinstance(exc, yaml.MarkedYAMLError):
        problem = exc.problem or "cannot be read"
        context = f" ({exc.context}{_where(exc.context_mark)})" if exc.context else ""
        text = f"{problem}{context}"
        if len(text) > 200:
            text = text[:200] + "…"
        return f"{source}: not valid YAML{_where(exc.problem_mark)}: {text}"
    return f"{source}: not valid YAML: {shown(str(exc), 200)}"


def load_all(text: str, source: str) -> list[Any]:
    """Every document of a YAML stream, bounded as the module says."""
    if len(text) > MAX_FILE_BYTES or len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        raise YamlLimitError(f"{source}: over {MAX_FILE_BYTES // 1024} KiB; a cluster spec is a few KiB")
    try:
        loader = _BoundedLoader(text, source)  # the reader checks every character here
        try:
            docs = []
            while loader.check_data():  # type: ignore[no-untyped-call]
                docs.append(loader.get_data())
            return docs
        finally:
            loader.dispose()
    except yaml.YAMLError as exc:
        raise UserError(yaml_error_message(exc, source)) from None
    except (ValueError, RecursionError, MemoryError) as exc:  # a safety net; the bounds above come first
        raise UserError(f"{source}: cannot be read as YAML ({type(exc).__name__}); check the file") from None


def load_value(text: str, source: str) -> Any:
    """One YAML value (a ``--set`` right-hand side). Raises YAMLError for text that is not YAML
    (the caller may take it as a plain string) and YamlLimitError for text over the bounds."""
    if len(text) > MAX_VALUE_CHARS:
        raise YamlLimitError(f"{source}: the value is {len(text)} characters; at most {MAX_VALUE_CHARS}")
    loader = _BoundedLoader(text, source)
    try:
        return loader.get_single_data()
    except (RecursionError, MemoryError) as exc:  # a safety net; the bounds above come first
        raise YamlLimitError(f"{source}: cannot be read as YAML ({type(exc).__name__})") from None
    finally:
        loader.dispose()


_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)


def decode_text(data: bytes, source: str) -> str:
    """Bytes of a spec file as text: UTF-8, or UTF-8/16/32 behind a byte-order mark."""
    if len(data) > MAX_FILE_BYTES:
        raise YamlLimitError(f"{source}: over {MAX_FILE_BYTES // 1024} KiB; a cluster spec is a few KiB")
    encoding = "utf-8"
    for bom, name in _BOMS:
        if data.startswith(bom):
            encoding, data = name, data[len(bom) :]
            break
    try:
        text = data.decode(encoding)
    except UnicodeDecodeError as exc:
        raise UserError(
            f"{source}: not a text file: byte {exc.start} (0x{data[exc.start]:02x}) is not {encoding.upper()}; "
            "give a YAML file saved as UTF-8"
        ) from None
    nul = text.find("\0")
    if nul >= 0:
        raise UserError(f"{source}: not a text file: a NUL character at offset {nul}; give a YAML file")
    return text


def read_text_file(path: str | Path, source: str | None = None) -> str:
    """Read a user's spec (or key) file with the bounds above; every failure is a UserError."""
    source = source or str(path)
    try:
        with open(path, "rb") as f:
            data = f.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise UserError(f"{source}: cannot read it: {exc.strerror or exc}") from None
    except ValueError as exc:  # an embedded NUL in the path
        raise UserError(f"{source}: cannot read it: {exc}") from None
    return decode_text(data, source)
