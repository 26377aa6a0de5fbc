"""Safe YAML loading that remembers the line of every key, so errors can point at it.

A suite file is read as untrusted input. PyYAML's safe loader would follow an alias bomb into
billions of nodes, a self-referencing alias into endless recursion, and let a repeated key
silently replace the first; here composition counts what aliases expand to and how deep values
nest, refuses cycles, and reports every repeated key, each at its file and line.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError

from harness.errors import UserError

# A suite file is 100-300 nodes, aliases included; the billion laughs expands to 9**9. 10,000
# aliased nodes keep planning (every run validated, hashed, printed) well under a second.
MAX_ALIASED_NODES = 10_000
# The deepest setting is 4 levels down (base.data.synth.seed); composing a level costs ~4 Python
# frames, so 32 levels stay far from the interpreter's recursion limit of 1000.
MAX_DEPTH = 32
# Python refuses to print an int past 4300 digits (sys.int_info.str_digits_check_threshold);
# such a number could not even be named in an error message.
_LARGEST_INT = 10**4300
_TOO_LONG = "an integer of more than 4300 digits"


@dataclass
class YamlDocument:
    """A parsed YAML file: its data, its leading comment lines and the line of each key path."""

    path: Path
    data: Any
    header: list[str]
    lines: dict[tuple, int] = field(default_factory=dict)

    def line_of(self, key_path: tuple) -> int | None:
        """The 1-based line of the deepest known prefix of key_path."""
        for end in range(len(key_path), -1, -1):
            line = self.lines.get(tuple(key_path[:end]))
            if line is not None:
                return line
        return None


def load_yaml(path: Path) -> YamlDocument:
    """Read a YAML file with yaml.safe_load semantics, recording each key's line number; alias
    bombs, cycles, deep nesting and repeated keys are UserErrors naming file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UserError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise UserError(f"{path}: cannot read: {error}") from None
    loader = None
    try:
        loader = _BoundedLoader(text)  # reads the whole text: refuses control characters
        node = loader.get_single_node()
        if loader.duplicates:
            raise UserError("\n".join(f"{path}:{line}: {message}"
                                      for line, message in loader.duplicates))
        data = loader.construct_document(node) if node is not None else None
    except _Refused as refused:
        raise UserError(f"{path}:{refused.mark.line + 1}: {refused.message}") from None
    except yaml.reader.ReaderError as error:
        line = text.count("\n", 0, error.position) + 1
        raise UserError(f"{path}:{line}: invalid YAML: character {error.character:#06x} "
                        f"({error.reason})") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark else str(path)
        problem = getattr(error, "problem", None) or str(error)
        context, at = getattr(error, "context", None), getattr(error, "context_mark", None)
        if context and at:  # e.g. "while scanning a quoted scalar at line 3"
            problem = f"{context} at line {at.line + 1}: {problem}"
        raise UserError(f"{where}: invalid YAML: {problem}") from None
    finally:
        if loader is not None:
            loader.dispose()
    lines: dict[tuple, int] = {}
    if node is not None:
        _record_lines(node, (), lines)
    header = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        header.append(line.lstrip("#").strip())
    return YamlDocument(path=path, data=data, header=header, lines=lines)


class _Refused(Exception):
    """A document this loader will not expand, with the place to blame."""

    def __init__(self, mark: yaml.Mark, message: str):
        super().__init__(message)
        self.mark = mark
        self.message = message


class _BoundedLoader(yaml.SafeLoader):
    """yaml.SafeLoader that bounds alias expansion and nesting and notes every repeated key.

    For each collection it keeps (nodes, aliased nodes, height) as they would be once aliases
    are expanded, so a bomb is refused after composing a few lines, without expanding anything.
    """

    def __init__(self, text: str):
        super().__init__(text)
        self.expanded: dict[int, tuple[int, int, int]] = {}  # id(finished collection) -> counts
        self.open: list[list[int]] = []  # the same counts, growing, for collections being composed
        self.duplicates: list[tuple[int, str]] = []  # (line, message), in file order

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        event = self.peek_event()
        if isinstance(event, yaml.AliasEvent):
            target = self.anchors.get(event.anchor)
            if isinstance(target, yaml.CollectionNode) and id(target) not in self.expanded:
                raise _Refused(event.start_mark,
                               f"alias *{event.anchor} refers to the value that contains it "
                               "(a cycle); aliases may only repeat a value defined before")
            node = super().compose_node(parent, index)
            nodes, _, height = self.expanded.get(id(node), (1, 0, 0))
            self._add_child(nodes, nodes, height, event.start_mark, alias=True)
            return node
        collection = isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent))
        if collection:
            if len(self.open) >= MAX_DEPTH:
                raise _Refused(event.start_mark, f"nested more than {MAX_DEPTH} levels deep")
            self.open.append([1, 0, 1])
        node = super().compose_node(parent, index)
        if not collection:
            self._add_child(1, 0, 0, event.start_mark)
            return node
        nodes, aliased, height = self.expanded[id(node)] = tuple(self.open.pop())
        if isinstance(node, yaml.MappingNode):
            self._note_duplicates(node)
        self._add_child(nodes, aliased, height, event.start_mark)
        return node

    def _add_child(self, nodes: int, aliased: int, height: int, mark: yaml.Mark,
                   alias: bool = False) -> None:
        if not self.open:
            return
        counts = self.open[-1]
        counts[0] += nodes
        counts[1] += aliased
        counts[2] = max(counts[2], height + 1)
        if counts[1] > MAX_ALIASED_NODES:
            raise _Refused(mark, f"too many aliased nodes: aliases here expand to more than "
                                 f"{MAX_ALIASED_NODES:,} values")
        if alias and len(self.open) - 1 + counts[2] > MAX_DEPTH:
            raise _Refused(mark, f"nested more than {MAX_DEPTH} levels deep (once aliases are "
                                 "expanded)")

    def _note_duplicates(self, node: yaml.MappingNode) -> None:
        first: dict[Any, yaml.Node] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.tag.endswith(":merge"):
                continue  # complex keys are refused when constructed; `<<:` merges may repeat
            key = self.construct_object(key_node)
            try:
                earlier = first.setdefault(key, key_node)
            except TypeError:
                continue  # unhashable: refused when constructed
            if earlier is key_node:
                continue
            at = f"line {earlier.start_mark.line + 1}"
            if earlier.start_mark.line == key_node.start_mark.line:
                at += f", column {earlier.start_mark.column + 1}"
            self.duplicates.append((key_node.start_mark.line + 1,
                                    f"duplicate key {key_node.value!r} (first given at {at}): "
                                    "give each key once"))

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            value = super().construct_object(node, deep=deep)
        except (ValueError, TypeError, OverflowError) as error:
            # e.g. `2024-13-45` (read as a date), a 5,000-digit integer
            problem = _TOO_LONG if "digits" in str(error) else str(error)
            raise ConstructorError(None, None, f"cannot read this value: {problem}",
                                   node.start_mark) from None
        if isinstance(value, int) and not -_LARGEST_INT < value < _LARGEST_INT:
            raise ConstructorError(None, None, f"cannot read this value: {_TOO_LONG}",
                                   node.start_mark)
        return value


def _record_lines(node: yaml.Node, prefix: tuple, lines: dict[tuple, int]) -> None:
    lines.setdefault(prefix, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = key_node.value
            lines[prefix + (key,)] = key_node.start_mark.line + 1
            _record_lines(value_node, prefix + (key,), lines)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            lines[prefix + (index,)] = item.start_mark.line + 1
            _record_lines(item, prefix + (index,), lines)
