"""YAML line numbers for field paths, so SARIF and GitHub annotations land on the right line.

`manifests.numbered_documents` gives objects without positions; here the same text is composed
into PyYAML nodes (no construction) and a field path such as
`spec.template.spec.containers[0].lifecycle.preStop` is walked down those nodes. A path that
does not exist (a field the fix would add) resolves to its deepest existing ancestor, which is
where the new field goes.
"""

from __future__ import annotations

import re

import yaml

try:  # libyaml when present: composing is then ~10x faster
    _Loader: type = yaml.CSafeLoader
except AttributeError:  # pragma: no cover - depends on how PyYAML was built
    _Loader = yaml.SafeLoader

_TOKEN = re.compile(r"\[(\d+)\]|\[\"([^\"]*)\"\]|([^.\[\]]+)")


def split_path(path: str) -> list[str | int]:
    """`a.b[0].c` -> ['a', 'b', 0, 'c']; `metadata.annotations["x.io/y"]` keeps the dotted key."""
    tokens: list[str | int] = []
    for index, quoted, key in _TOKEN.findall(path):
        tokens.append(int(index) if index else (quoted or key))
    return tokens


def compose(text: str) -> list[yaml.Node | None]:
    """One node per YAML document, in order (None for an empty one), like `load_all` counts."""
    try:
        return list(yaml.compose_all(text, Loader=_Loader))
    except yaml.YAMLError:
        return []  # the loader already reported the error; positions are a nicety


def object_node(documents: list[yaml.Node | None], number: int, item: int) -> yaml.Node | None:
    """The node of document `number` (1-based), or of its `items[item]` when it is a List."""
    if not 0 < number <= len(documents):
        return None
    node = documents[number - 1]
    items = _child(node, "items") if isinstance(node, yaml.MappingNode) else None
    kind = _child(node, "kind") if items is not None else None
    if isinstance(kind, yaml.ScalarNode) and kind.value.endswith("List"):
        return _child(items, item)
    return node


def line_of(node: yaml.Node | None, path: str) -> int | None:
    """1-based line of `path` under `node` (or of its deepest existing ancestor): the line of
    the key for a mapping entry, since that is where a reader looks for `field: value`."""
    if node is None:
        return None
    line = node.start_mark.line + 1
    for token in split_path(path):
        found = _entry(node, token)
        if found is None:
            break
        mark, node = found
        line = mark.line + 1
    return line


def _child(node: yaml.Node, token: str | int) -> yaml.Node | None:
    found = _entry(node, token)
    return found[1] if found else None


def _entry(node: yaml.Node, token: str | int) -> tuple[yaml.Mark, yaml.Node] | None:
    """(where the entry starts, its value node)."""
    if isinstance(token, int):
        if isinstance(node, yaml.SequenceNode) and token < len(node.value):
            item = node.value[token]
            return item.start_mark, item
        return None
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == token:
                return key.start_mark, value
    return None
