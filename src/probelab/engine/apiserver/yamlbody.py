"""Reading a YAML request body without letting aliases multiply it.

A YAML alias (`*a`) repeats the node its anchor (`&a`) names, so a few hundred bytes of nested
aliases ("billion laughs") describe gigabytes of object. PyYAML shares the repeated node, but
every later step (JSON encoding, deep copies, the store, watch fan-out) expands it. Kubernetes
decodes YAML with go-yaml (through `sigs.k8s.io/yaml`), whose decoder counts the nodes it
decodes and those reached through an alias, and stops with "document contains excessive
aliasing" when aliases do too much of the work (`allowedAliasRatio` and `unmarshal` in
go-yaml v2 `decode.go`, the fix of CVE-2019-11253; v3 the same). This module applies the same
rule to PyYAML's node graph before any Python object is built.
"""

from __future__ import annotations

from typing import Any

import yaml

EXCESSIVE_ALIASING = "yaml: document contains excessive aliasing"

# go-yaml's constants: up to 400,000 decodes 99% may come from aliases, scaling down to 10%
# at 4,000,000 decodes.
ALIAS_RATIO_RANGE_LOW = 400_000
ALIAS_RATIO_RANGE_HIGH = 4_000_000


class ExcessiveAliasing(ValueError):
    """The document expands through aliases beyond go-yaml's limit."""

    def __init__(self) -> None:
        super().__init__(EXCESSIVE_ALIASING)


def allowed_alias_ratio(decode_count: int) -> float:
    """The share of decodes that may come from alias expansion (go-yaml `allowedAliasRatio`)."""
    if decode_count <= ALIAS_RATIO_RANGE_LOW:
        return 0.99
    if decode_count >= ALIAS_RATIO_RANGE_HIGH:
        return 0.10
    span = ALIAS_RATIO_RANGE_HIGH - ALIAS_RATIO_RANGE_LOW
    return 0.99 - 0.89 * (decode_count - ALIAS_RATIO_RANGE_LOW) / span


def excessive(alias_count: int, decode_count: int) -> bool:
    """go-yaml's test, made after every decoded node."""
    return (alias_count > 100 and decode_count > 1000
            and alias_count / decode_count > allowed_alias_ratio(decode_count))


def check_aliasing(root: yaml.Node) -> None:
    """Walk `root` as go-yaml decodes it (document order, aliases expanded) and raise
    `ExcessiveAliasing` as soon as go-yaml would. PyYAML's composer resolves an alias to the
    anchored node itself, so a node met again is an alias; everything under it counts as
    alias-driven. The walk stops at the limit, so it costs at most about what the document's
    own nodes cost, whatever the aliases would expand to."""
    seen: set[int] = set()
    decodes = aliases = 0
    todo: list[tuple[yaml.Node, bool]] = [(root, False)]
    while todo:
        node, in_alias = todo.pop()
        decodes += 1
        if in_alias:
            aliases += 1
        if id(node) in seen:
            decodes += 1  # the alias node itself, then its target as alias-driven
            aliases += 1
            in_alias = True
        else:
            seen.add(id(node))
        if excessive(aliases, decodes):
            raise ExcessiveAliasing()
        if isinstance(node, yaml.SequenceNode):
            todo.extend((child, in_alias) for child in reversed(node.value))
        elif isinstance(node, yaml.MappingNode):
            for key, value in reversed(node.value):
                todo.append((value, in_alias))
                todo.append((key, in_alias))


def load(raw: bytes | str) -> Any:
    """One YAML document as Python data (like `yaml.safe_load`), refusing excessive aliasing.

    Raises `yaml.YAMLError` for syntax errors and `ExcessiveAliasing`."""
    loader = yaml.SafeLoader(raw)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        check_aliasing(node)
        return loader.construct_document(node)
    finally:
        loader.dispose()
