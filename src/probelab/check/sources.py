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
            texts.append(Text("<stdin>", (stdin or sys.stdin).read()))
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
        for number, obj in manifests.numbered_documents(text.text, text.name):
            item = item + 1 if number == previous else 0
            previous = number
            located.append(Located(obj, text, number, item, len(located)))
    return located
