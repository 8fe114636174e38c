"""The three PATCH flavours of the Kubernetes API, as pure functions on JSON-like values.

The API server's registry applies `PATCH` bodies with these; kubectl depends on them:
`kubectl set image` and client-side `kubectl apply` send strategic merge patches,
`kubectl scale` a merge patch on the scale subresource, `kubectl rollout restart` a strategic
merge patch of one template annotation.

- `json_patch`: RFC 6902 (add, remove, replace, move, copy, test) with RFC 6901 pointers.
- `json_merge_patch`: RFC 7386 (objects merge, `null` deletes, everything else replaces).
- `strategic_merge_patch`: Kubernetes' own (`staging/src/k8s.io/apimachinery/pkg/util/
  strategicpatch/patch.go`): like a merge patch, but lists that carry a `patchMergeKey` in the
  API types (containers by `name`, container ports by `containerPort`, Service ports by `port`,
  ...) are merged element by element, and `$patch`, `$retainKeys`, `$setElementOrder/` and
  `$deleteFromPrimitiveList/` directives are understood.

Every function returns a new value and raises ValueError with a one-line reason on failure.
"""

from __future__ import annotations

import copy
from typing import Any

from probelab.k8s.objects import is_hashable
from probelab.k8s.patch_strategy import list_strategy

_MISSING = object()


# --- RFC 6902 ------------------------------------------------------------------------------


def json_patch(target: Any, ops: Any) -> Any:
    """`target` with the operations applied in order; ValueError names the failing operation."""
    if not isinstance(ops, list):
        raise ValueError("a JSON patch must be a list of operations")
    doc = copy.deepcopy(target)
    for i, op in enumerate(ops):
        try:
            doc = _apply_op(doc, op)
        except ValueError as exc:
            raise ValueError(f"json patch operation {i}: {exc}") from None
    return doc


def _pointer(path: Any) -> list[str]:
    if not isinstance(path, str):
        raise ValueError(f"path must be a string, not {path!r}")
    if path == "":
        return []
    if not path.startswith("/"):
        raise ValueError(f"path {path!r} must start with '/'")
    return [part.replace("~1", "/").replace("~0", "~") for part in path[1:].split("/")]


def _index(container: list[Any], token: str, for_add: bool) -> int:
    if for_add and token == "-":
        return len(container)
    if not token.isdigit() or (token != "0" and token.startswith("0")):
        raise ValueError(f"{token!r} is not a valid array index")
    index = int(token)
    if index > len(container) or (index == len(container) and not for_add):
        raise ValueError(f"array index {index} out of range")
    return index


def _get(doc: Any, tokens: list[str]) -> Any:
    for token in tokens:
        if isinstance(doc, dict):
            if token not in doc:
                raise ValueError(f"path element {token!r} not found")
            doc = doc[token]
        elif isinstance(doc, list):
            doc = doc[_index(doc, token, for_add=False)]
        else:
            raise ValueError(f"cannot descend into {type(doc).__name__} at {token!r}")
    return doc


def _add(doc: Any, tokens: list[str], value: Any) -> Any:
    if not tokens:
        return value
    parent = _get(doc, tokens[:-1])
    last = tokens[-1]
    if isinstance(parent, dict):
        parent[last] = value
    elif isinstance(parent, list):
        parent.insert(_index(parent, last, for_add=True), value)
    else:
        raise ValueError(f"cannot add to a {type(parent).__name__}")
    return doc


def _remove(doc: Any, tokens: list[str]) -> tuple[Any, Any]:
    if not tokens:
        raise ValueError("cannot remove the whole document")
    parent = _get(doc, tokens[:-1])
    last = tokens[-1]
    if isinstance(parent, dict):
        if last not in parent:
            raise ValueError(f"cannot remove {last!r}: not found")
        return doc, parent.pop(last)
    if isinstance(parent, list):
        return doc, parent.pop(_index(parent, last, for_add=False))
    raise ValueError(f"cannot remove from a {type(parent).__name__}")


def _apply_op(doc: Any, op: Any) -> Any:
    if not isinstance(op, dict):
        raise ValueError("each operation must be an object")
    name, path = op.get("op"), _pointer(op.get("path"))
    if name in ("add", "replace", "test") and "value" not in op:
        raise ValueError(f"{name!r} needs a 'value'")
    if name == "add":
        return _add(doc, path, copy.deepcopy(op["value"]))
    if name == "remove":
        return _remove(doc, path)[0]
    if name == "replace":
        _get(doc, path)  # must exist
        if not path:
            return copy.deepcopy(op["value"])
        doc, _ = _remove(doc, path)
        return _add(doc, path, copy.deepcopy(op["value"]))
    if name in ("move", "copy"):
        source = _pointer(op.get("from"))
        if name == "move" and path[: len(source)] == source and path != source:
            raise ValueError("cannot move a value into one of its own children")
        if name == "move":
            doc, value = _remove(doc, source)
        else:
            value = copy.deepcopy(_get(doc, source))
        return _add(doc, path, value)
    if name == "test":
        if _get(doc, path) != op["value"] or not _same_types(_get(doc, path), op["value"]):
            raise ValueError(f"test failed: the value at {op.get('path')!r} is not "
                             f"{op['value']!r}")
        return doc
    raise ValueError(f"unsupported operation {name!r}")


def _same_types(a: Any, b: Any) -> bool:
    """JSON equality: `1` is not `true` (Python says 1 == True)."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool)
    return True


# --- RFC 7386 ------------------------------------------------------------------------------


def json_merge_patch(target: Any, doc: Any) -> Any:
    """RFC 7386: objects merge recursively, `null` deletes a key, anything else replaces."""
    if not isinstance(doc, dict):
        return copy.deepcopy(doc)
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in doc.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = json_merge_patch(out.get(key), value)
    return out


# --- strategic merge patch -----------------------------------------------------------------


def strategic_merge_patch(target: Any, doc: Any, kind: str) -> Any:
    """`target` with a strategic merge patch applied; `kind` picks the list merge keys."""
    if not isinstance(doc, dict):
        raise ValueError("a strategic merge patch must be an object")
    if not isinstance(target, dict):
        target = {}
    result = _merge_map(copy.deepcopy(target), doc, kind, ())
    return {} if result is _MISSING else result


def _merge_map(original: dict[str, Any], patch: dict[str, Any], kind: str,
               path: tuple[str, ...]) -> Any:
    directive = patch.get("$patch")
    if directive == "delete":
        return _MISSING
    if directive == "replace":
        return _strip_directives(patch)
    if directive not in (None, "merge"):
        raise ValueError(f"unknown patch directive {directive!r} at {_dotted(path)}")
    retain = patch.get("$retainKeys")
    orders = {k.split("/", 1)[1]: v for k, v in patch.items()
              if k.startswith("$setElementOrder/")}
    deletions = {k.split("/", 1)[1]: v for k, v in patch.items()
                 if k.startswith("$deleteFromPrimitiveList/")}
    for key, value in patch.items():
        if key.startswith("$"):
            continue
        if value is None:
            original.pop(key, None)
            continue
        merged = _merge_value(original.get(key, _MISSING), value, kind, (*path, key))
        if merged is _MISSING:
            original.pop(key, None)
        else:
            original[key] = merged
    for key, values in deletions.items():
        if isinstance(original.get(key), list) and isinstance(values, list):
            original[key] = [v for v in original[key] if v not in values]
    for key, order in orders.items():
        if isinstance(original.get(key), list) and isinstance(order, list):
            original[key] = _ordered(original[key], order, kind, (*path, key))
    if isinstance(retain, list):
        for key in [k for k in original if k not in retain]:
            del original[key]
    return original


def _merge_value(original: Any, patch: Any, kind: str, path: tuple[str, ...]) -> Any:
    if isinstance(patch, dict):
        base = original if isinstance(original, dict) else {}
        return _merge_map(base, patch, kind, path)
    if isinstance(patch, list):
        strategy = list_strategy(kind, path)
        if strategy is None:
            return _strip_list(patch)
        base = original if isinstance(original, list) else []
        return _merge_list(base, patch, strategy, kind, path)
    return copy.deepcopy(patch)


def _merge_list(original: list[Any], patch: list[Any], merge_key: str, kind: str,
                path: tuple[str, ...]) -> list[Any]:
    """Merge by key (`merge_key` "" = a set of primitives, like `finalizers`)."""
    if any(isinstance(p, dict) and p.get("$patch") == "replace" for p in patch):
        return _strip_list([p for p in patch if not (isinstance(p, dict) and "$patch" in p)])
    out = list(original)
    for item in patch:
        if not merge_key or not isinstance(item, dict):
            if item not in out:
                out.append(copy.deepcopy(item))
            continue
        if merge_key not in item:
            raise ValueError(f"map in {_dotted(path)} has no merge key {merge_key!r}")
        at = next((i for i, o in enumerate(out)
                   if isinstance(o, dict) and o.get(merge_key) == item[merge_key]), None)
        if item.get("$patch") == "delete":
            if at is not None:
                del out[at]
            continue
        if at is None:
            out.append(_strip_directives(item))
        else:
            out[at] = _merge_map(out[at], item, kind, path)
    return out


def _ordered(items: list[Any], order: list[Any], kind: str, path: tuple[str, ...]) -> list[Any]:
    """Apply `$setElementOrder`: listed elements in the given order, the others after them."""
    key = list_strategy(kind, path)
    def identity(item: Any) -> Any:
        return item.get(key) if key and isinstance(item, dict) else item
    wanted = [identity(o) for o in order]
    ranked = {w: i for i, w in enumerate(wanted) if is_hashable(w)}
    first = [i for i in items if is_hashable(identity(i)) and identity(i) in ranked]
    first.sort(key=lambda i: ranked[identity(i)])
    return first + [i for i in items if not (is_hashable(identity(i)) and identity(i) in ranked)]



def _strip_directives(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip_directives(v) for k, v in value.items()
                if not k.startswith("$") and v is not None}
    if isinstance(value, list):
        return _strip_list(value)
    return copy.deepcopy(value)


def _strip_list(values: list[Any]) -> list[Any]:
    return [_strip_directives(v) for v in values]


def _dotted(path: tuple[str, ...]) -> str:
    return ".".join(path) or "the top level"
