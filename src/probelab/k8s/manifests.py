"""Reading manifest files and folders into objects, as `kubectl create -f PATH` does.

Used by the demo runner (which sends the objects through the `kubernetes` client) and by the CLI
(`load_and_prepare`: legacy conversion, defaulting and validation up front, so a broken manifest
is one clear line before anything is started). The only I/O of the `k8s` package is here.

A folder contributes its `*.yaml`, `*.yml` and `*.json` files but `probelab.yaml` (the engine's
image table), sorted by name and not recursive
(`kubectl create -f DIR` without `-R`); a file may hold several YAML documents; empty documents
are skipped; a `kind: List` (what `kubectl get -o yaml` prints) contributes its items.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from probelab.errors import ProbelabError
from probelab.k8s import convert, defaults, schema, validation
from probelab.k8s.objects import Obj, is_hashable

EXTENSIONS = (".yaml", ".yml", ".json")
# Not a manifest: the local engine's image table, which lives next to the manifests
# (docs/kubelet.md, "Images"); a folder's expansion skips it, a path naming it does not.
NOT_MANIFESTS = ("probelab.yaml",)


class ManifestError(ProbelabError):
    """A manifest that cannot be read or is not a valid object (`path: document N: reason`)."""


def manifest_files(paths: list[str | Path]) -> list[Path]:
    files: list[Path] = []
    for given in paths:
        path = Path(given)
        if path.is_dir():
            found = sorted(p for p in path.iterdir()
                           if p.is_file() and p.suffix.lower() in EXTENSIONS
                           and p.name not in NOT_MANIFESTS)
            if not found:
                raise ManifestError(f"{path}: no *.yaml, *.yml or *.json files in this folder")
            files.extend(found)
        elif path.is_file():
            files.append(path)
        else:
            raise ManifestError(f"{path}: no such file or folder")
    return files


def load_manifests(paths: list[str | Path]) -> list[Obj]:
    """Every object of the given files and folders, in order."""
    objects: list[Obj] = []
    for path in manifest_files(paths):
        objects.extend(load_file(path))
    return objects


def load_file(path: Path) -> list[Obj]:
    return parse_documents(_read(path), str(path))


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ManifestError(f"{path}: cannot read: {exc}") from None


def parse_documents(text: str, source: str = "<input>") -> list[Obj]:
    """The objects of a multi-document YAML (or JSON) text; `source` names it in errors."""
    return [obj for _, obj in numbered_documents(text, source)]


def numbered_documents(text: str, source: str = "<input>") -> list[tuple[int, Obj]]:
    """(document number, object) pairs; a List document gives several pairs of one number."""
    try:
        documents = list(yaml.load_all(text, Loader=_StrictLoader))
    except yaml.YAMLError as exc:
        raise ManifestError(f"{source}: document {_failing_document(text)}: "
                            f"{_yaml_reason(exc)}") from None
    objects: list[tuple[int, Obj]] = []
    for number, doc in enumerate(documents, start=1):
        if doc is None:
            continue
        where = f"{source}: document {number}"
        for obj in _expand(doc, where):
            _check_shape(obj, where)
            objects.append((number, obj))
    return objects


class _StrictLoader(yaml.SafeLoader):
    """A safe loader that refuses a key given twice in one mapping, as kubectl does
    (`sigs.k8s.io/yaml` strict decoding) instead of silently keeping the last value."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                continue
            key = self.construct_object(key_node, deep=True)  # type: ignore[no-untyped-call]
            if not is_hashable(key):
                continue  # the base class reports unhashable keys
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"mapping key {key!r} already defined", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)



def _expand(doc: Any, where: str) -> list[Any]:
    if isinstance(doc, dict) and isinstance(doc.get("kind"), str) and (
            doc["kind"] == "List" or (doc["kind"].endswith("List") and "items" in doc)):
        items = doc.get("items")
        if not isinstance(items, list):
            raise ManifestError(f"{where}: a List needs an 'items' list")
        return items
    return [doc]


def _check_shape(obj: Any, where: str) -> None:
    if not isinstance(obj, dict):
        raise ManifestError(f"{where}: expected an object (a mapping), got "
                            f"{_kind_of(obj)}")
    for key in ("apiVersion", "kind"):
        if not obj.get(key):
            raise ManifestError(f"{where}: '{key}' is missing")
        if not isinstance(obj[key], str):
            raise ManifestError(f"{where}: '{key}' must be a string")
    meta = obj.get("metadata")
    if not isinstance(meta, dict) or not (meta.get("name") or meta.get("generateName")):
        raise ManifestError(f"{where}: {obj['kind']} has no metadata.name")


def _kind_of(value: Any) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return f"the text {value[:40]!r}"
    return type(value).__name__


def _failing_document(text: str) -> int:
    """The 1-based number of the first document that does not parse."""
    number = 0
    try:
        for number, _ in enumerate(yaml.load_all(text, Loader=_StrictLoader),  # noqa: B007
                                   start=1):
            pass
    except yaml.YAMLError:
        return number + 1
    return max(number, 1)


def _yaml_reason(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
    if mark is not None:
        return f"invalid YAML: {problem} (line {mark.line + 1}, column {mark.column + 1})"
    return f"invalid YAML: {problem}"


def prepare(obj: Obj, where: str = "") -> tuple[Obj, str | None]:
    """What the API server does before storing: convert, check fields, default, validate.

    Returns (object, deprecation warning or None); ManifestError with `describe()` when invalid.
    """
    prefix = f"{where}: " if where else ""
    served, warning = convert.to_served_version(obj)
    unknown = schema.unknown_fields(served)
    if unknown:
        raise ManifestError(f"{prefix}{_title(served)}: "
                            + ", ".join(f'unknown field "{p}"' for p in unknown))
    prepared = defaults.apply_defaults(served)
    errors = validation.validate(prepared, None)
    if errors:
        raise ManifestError(prefix + validation.describe(prepared, errors))
    return prepared, warning


def _title(obj: Obj) -> str:
    return f'{obj.get("kind")} "{(obj.get("metadata") or {}).get("name", "")}"'


def load_and_prepare(paths: list[str | Path]) -> tuple[list[Obj], list[str]]:
    """Objects ready to create (converted, defaulted, validated) and the warnings seen."""
    objects, warnings = [], []
    for path in manifest_files(paths):
        for number, obj in numbered_documents(_read(path), str(path)):
            prepared, warning = prepare(obj, f"{path}: document {number}")
            objects.append(prepared)
            if warning:
                warnings.append(f"{path}: {warning}")
    return objects, warnings
