"""Reading manifests with their origin: file, document number, List item and YAML node.

Files and folders go through `probelab.k8s.manifests` (kubectl's folder rules, multi-document
YAML, `List` kinds, strict duplicate keys, one-line errors with the line); standard input is
the same text parser under the name `<stdin>`, so `helm template . | probelab check -` works.
Line numbers are composed lazily, only for files that have findings.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import yaml

from probelab.check import lines
from probelab.k8s import manifests

STDIN = "-"


@dataclass
class Text:
    """One input: its name (a path, or `<stdin>`) and its text; nodes are composed on demand."""

    name: str
    text: str
    _nodes: list[yaml.Node | None] | None = field(default=None, repr=False)

    @property
    def nodes(self) -> list[yaml.Node | None]:
        if self._nodes is None:
            self._nodes = lines.compose(self.text)
        return self._nodes


@dataclass
class Located:
    """An object and where it came from."""

    obj: dict[str, Any]
    source: Text
    document: int  # 1-based document number in its file
    item: int  # index in the List's items (0 for a plain document)
    index: int  # position in the whole input (stable ordering)

    def line(self, path: str) -> int | None:
        node = lines.object_node(self.source.nodes, self.document, self.item)
        return lines.line_of(node, path)


def read_inputs(paths: list[str], stdin: TextIO | None = None) -> list[Text]:
    """The texts to check, in the order given; folders expand to their sorted manifest files."""
    texts: list[Text] = []
    for given in paths:
        if given == STDIN:
            stream = stdin or sys.stdin
            raw = getattr(stream, "buffer", None)  # bytes: decode as UTF-8 like the files
            try:
                texts.append(Text("<stdin>", raw.read().decode("utf-8") if raw is not None
                                  else stream.read()))
            except (OSError, UnicodeDecodeError) as exc:
                raise manifests.ManifestError(f"<stdin>: cannot read: {exc}") from None
            continue
        for path in manifests.manifest_files([given]):
            texts.append(Text(str(path), _read(path)))
    return texts


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise manifests.ManifestError(f"{path}: cannot read: {exc}") from None


def locate(texts: list[Text]) -> list[Located]:
    """Every object of every text, with its document number and position in that document
    (more than one only for a List document; `lines.object_node` tells them apart lazily)."""
    located: list[Located] = []
    for text in texts:
        previous, item = 0, 0
        for number, obj in documents(text):
            item = item + 1 if number == previous else 0
            previous = number
            located.append(Located(obj, text, number, item, len(located)))
    return located


def documents(text: Text) -> list[tuple[int, dict[str, Any]]]:
    """(document number, object) pairs, as `manifests.numbered_documents` returns them.

    `probelab.k8s.manifests` parses with PyYAML's pure-Python loader, about 5 ms per object,
    which makes a thousand-file chart take seconds. Here libyaml composes the nodes (kept for
    the line numbers), a node walk refuses duplicate keys like the strict loader does, and the
    ordinary safe constructor builds the objects. Anything unusual (a YAML error, a duplicate
    key, a document that is not an object with apiVersion, kind and a name) goes through
    `manifests.numbered_documents`, so every error is still its one line with file and line.
    """
    fast = _fast_documents(text) if _FAST is not None else None
    if fast is None:
        return manifests.numbered_documents(text.text, text.name)
    return fast


_FAST: type | None = getattr(yaml, "CSafeLoader", None)


def _fast_documents(text: Text) -> list[tuple[int, dict[str, Any]]] | None:
    assert _FAST is not None
    loader = _FAST(text.text)
    found: list[tuple[int, dict[str, Any]]] = []
    nodes: list[yaml.Node | None] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            nodes.append(node)
            if _has_duplicate_key(node):
                return None
            doc = loader.construct_document(node)
            if doc is None:
                continue
            items = doc.get("items") if _is_list(doc) else [doc]
            if not isinstance(items, list) or not all(_plain_object(o) for o in items):
                return None
            found.extend((len(nodes), obj) for obj in items)
    except yaml.YAMLError:
        return None
    finally:
        loader.dispose()
    text._nodes = nodes
    return found


def _is_list(doc: Any) -> bool:
    """`kind: List`, or any `...List` with items (what `kubectl get -o yaml` prints)."""
    kind = doc.get("kind") if isinstance(doc, dict) else None
    return isinstance(kind, str) and (kind == "List" or (kind.endswith("List") and "items" in doc))


def _plain_object(obj: Any) -> bool:
    if not isinstance(obj, dict):
        return False
    meta = obj.get("metadata")
    return (isinstance(obj.get("apiVersion"), str) and bool(obj["apiVersion"])
            and isinstance(obj.get("kind"), str) and bool(obj["kind"])
            and isinstance(meta, dict) and bool(meta.get("name") or meta.get("generateName")))


def _has_duplicate_key(node: yaml.Node) -> bool:
    stack = [node]
    while stack:
        current = stack.pop()
        if isinstance(current, yaml.MappingNode):
            seen: set[str] = set()
            for key, value in current.value:
                if isinstance(key, yaml.ScalarNode) and key.tag != "tag:yaml.org,2002:merge":
                    if key.value in seen:
                        return True
                    seen.add(key.value)
                stack.append(value)
        elif isinstance(current, yaml.SequenceNode):
            stack.extend(current.value)
    return False
