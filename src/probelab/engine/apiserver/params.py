"""Reading a request: query flags, label and field selectors, bodies (JSON or YAML) and
DeleteOptions. Every malformed input becomes an `ApiError` (400/413/415), never an exception
that escapes to the server.

Field selectors follow `staging/src/k8s.io/apimachinery/pkg/fields/selector.go` (`a=b`,
`a==b`, `a!=b`, comma-separated) with the per-kind field labels of `pkg/registry/*/strategy.go`
(`GetAttrs`/`ToSelectableFields`); an absent field compares as "".
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from probelab.engine.apiserver import protobuf, yamlbody
from probelab.engine.apiserver.status import ApiError, bad_request
from probelab.engine.core.store import Obj
from probelab.k8s.labels import Selector, SelectorError, parse

MAX_BODY_BYTES = 3 * 1024 * 1024  # the real API server's request body limit

COMMON_FIELDS = ("metadata.name", "metadata.namespace")
FIELDS_BY_RESOURCE: dict[str, tuple[str, ...]] = {
    "pods": ("spec.nodeName", "spec.restartPolicy", "spec.schedulerName",
             "spec.serviceAccountName", "spec.hostNetwork", "status.phase", "status.podIP",
             "status.nominatedNodeName"),
    "events": ("involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
               "involvedObject.uid", "involvedObject.apiVersion",
               "involvedObject.resourceVersion", "involvedObject.fieldPath", "reason",
               "reportingComponent", "source", "type"),
    "namespaces": ("status.phase",),
    "replicasets": ("status.replicas",),
    "services": ("spec.clusterIP", "spec.type"),
    "nodes": ("spec.unschedulable",),
}
BOOL_FIELDS = frozenset({"spec.unschedulable", "spec.hostNetwork"})


def flag(query: Mapping[str, str], name: str) -> bool:
    """A boolean query parameter (`true`, `True`, `1`)."""
    return query.get(name, "").lower() in ("true", "1")


def int_param(query: Mapping[str, str], name: str, minimum: int = 0) -> int | None:
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    try:
        value = int(raw)
    except ValueError:
        raise bad_request(f'invalid value for {name}: "{raw}": must be an integer') from None
    if value < minimum:
        raise bad_request(f"{name}: must be >= {minimum}")
    return value


def label_selector(query: Mapping[str, str]) -> Selector | None:
    text = query.get("labelSelector")
    if not text:
        return None
    try:
        return parse(text)
    except SelectorError as exc:
        raise bad_request(f"unable to parse requirement: {exc}") from None


@dataclass(frozen=True)
class FieldTerm:
    path: str
    equal: bool  # False for !=
    value: str


def field_value(obj: Obj, path: str) -> str:
    node: Any = obj
    for part in path.split("."):
        if not isinstance(node, Mapping):
            return ""
        node = node.get(part)
    if node is None:  # booleans are formatted even when unset (strconv.FormatBool)
        return "false" if path in BOOL_FIELDS else ""
    if isinstance(node, bool):
        return "true" if node else "false"
    if path == "source" and isinstance(node, Mapping):
        return str(node.get("component", ""))
    return str(node)


def field_selector(query: Mapping[str, str], resource: str) -> Callable[[Obj], bool] | None:
    """A predicate for `?fieldSelector=`, or None when absent."""
    text = query.get("fieldSelector", "").strip()
    if not text:
        return None
    allowed = COMMON_FIELDS + FIELDS_BY_RESOURCE.get(resource, ())
    terms = []
    for raw in text.split(","):
        term = raw.strip()
        for op in ("!=", "==", "="):
            if op in term:
                path, _, value = term.partition(op)
                break
        else:
            raise bad_request(f"invalid selector: '{text}'; can't understand '{term}'")
        path = path.strip()
        if path not in allowed:
            raise bad_request(f'field label not supported: {path}')
        terms.append(FieldTerm(path, op != "!=", value.strip()))

    def matches(obj: Obj) -> bool:
        return all((field_value(obj, t.path) == t.value) == t.equal for t in terms)

    return matches


def media_type(content_type: str | None) -> str:
    return (content_type or "").split(";")[0].strip().lower()


def decode_body(raw: bytes, content_type: str | None) -> Any:
    """Parse a JSON, YAML or (for kubectl's generators) protobuf body; 400 on syntax errors or
    absurd nesting, 415 on other media types."""
    kind = media_type(content_type)
    if not raw.strip():
        raise bad_request("the request body is empty; an object was expected")
    if kind in ("application/yaml", "application/x-yaml", "text/yaml"):
        try:
            doc = yamlbody.load(raw)
        except yamlbody.ExcessiveAliasing as exc:
            raise bad_request(f"error converting YAML to JSON: {exc}") from None
        except yaml.YAMLError as exc:
            msg = str(exc).replace("\n", " ")
            raise bad_request(f"error converting YAML to JSON: {msg}") from None
        except RecursionError:
            raise bad_request(f"error converting YAML to JSON: {TOO_DEEP}") from None
        return _shallow_enough(doc)
    if kind == protobuf.MEDIA_TYPE:
        try:
            return protobuf.decode_object(raw)
        except protobuf.Unsupported as exc:
            raise ApiError(415, "UnsupportedMediaType", f"{exc}; send JSON or YAML") from None
        except protobuf.ProtobufError as exc:
            raise bad_request(f"error decoding protobuf body: {exc}") from None
    if kind not in ("", "application/json", "*/*") and not kind.endswith("+json"):
        raise ApiError(415, "UnsupportedMediaType",
                       f'the body of the request was in an unknown format - accepted media '
                       f'types include: application/json, application/yaml (got "{kind}")')
    try:
        return _shallow_enough(json.loads(raw))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise bad_request(f"couldn't get version/kind; json parse error: {exc}") from None


MAX_DEPTH = 100  # API objects nest about 15 deep; deeper input only exhausts the stack later
TOO_DEEP = f"object nesting is deeper than {MAX_DEPTH} levels"


def _shallow_enough(doc: Any) -> Any:
    """`doc` unchanged, or 400 when it nests deeper than MAX_DEPTH (checked without recursion,
    so every later step — copies, patches, validation — can recurse safely)."""
    todo = [(doc, 1)]
    while todo:
        node, depth = todo.pop()
        if depth > MAX_DEPTH:
            raise bad_request(TOO_DEEP)
        if isinstance(node, dict):
            todo.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            todo.extend((v, depth + 1) for v in node)
    return doc


@dataclass(frozen=True)
class DeleteOptions:
    grace_period_s: int | None = None
    propagation: str = "Background"  # Background | Foreground | Orphan
    precondition_uid: str | None = None
    precondition_rv: str | None = None
    dry_run: bool = False  # `dryRun=All`: every check runs, nothing changes


def delete_options(query: Mapping[str, str], body: Any, dry_run: bool = False
                   ) -> DeleteOptions:
    """Merge the query (`gracePeriodSeconds`, `propagationPolicy`) and a DeleteOptions body;
    `dry_run` comes from `dry_run_param` (query and body)."""
    if body is not None and not isinstance(body, Mapping):
        raise bad_request("DeleteOptions must be a JSON object")
    body = body or {}
    grace = body.get("gracePeriodSeconds")
    if grace is not None and (isinstance(grace, bool) or not isinstance(grace, int)):
        raise bad_request("gracePeriodSeconds: must be an integer")
    query_grace = int_param(query, "gracePeriodSeconds", minimum=-1)
    grace = query_grace if query_grace is not None else grace
    policy = query.get("propagationPolicy") or body.get("propagationPolicy")
    if policy is None:
        orphan = body.get("orphanDependents", query.get("orphanDependents"))
        policy = "Orphan" if orphan in (True, "true") else "Background"
    if policy not in ("Background", "Foreground", "Orphan"):
        raise bad_request(f'propagationPolicy: Unsupported value: "{policy}": supported values: '
                          '"Foreground", "Background", "Orphan"')
    pre = body.get("preconditions") or {}
    if not isinstance(pre, Mapping):
        raise bad_request("preconditions must be an object")
    return DeleteOptions(
        grace_period_s=None if grace is None or grace < 0 else grace,
        propagation=policy,
        precondition_uid=pre.get("uid"),
        precondition_rv=pre.get("resourceVersion"),
        dry_run=dry_run,
    )


DRY_RUN_ALL = "All"
OPTIONS_KIND = {"POST": "CreateOptions", "PUT": "UpdateOptions", "PATCH": "PatchOptions",
                "DELETE": "DeleteOptions"}


def dry_run_param(method: str, query: Any, body: Any = None) -> bool:
    """`?dryRun=` (repeatable; a DeleteOptions body may carry `dryRun` too): True for `All`,
    False when absent. Any other value is refused as the API server refuses it
    (`ValidateDryRun` in `staging/src/k8s.io/apimachinery/pkg/apis/meta/v1/validation/
    validation.go`, reported by the create/update/patch/delete handlers as 422 Invalid on
    the request's options kind)."""
    values = list(query.getall("dryRun", [])) if hasattr(query, "getall") else (
        [query["dryRun"]] if "dryRun" in query else [])
    if isinstance(body, Mapping) and isinstance(body.get("dryRun"), list):
        values += [v for v in body["dryRun"] if v not in values]
    if not values:
        return False
    if all(v == DRY_RUN_ALL for v in values):
        return True
    kind = OPTIONS_KIND.get(method, "CreateOptions")
    shown = "[]string{" + ", ".join(json.dumps(str(v)) for v in values) + "}"
    message = f'Unsupported value: {shown}: supported values: "{DRY_RUN_ALL}"'
    raise ApiError(422, "Invalid", f'{kind}.meta.k8s.io "" is invalid: dryRun: {message}', {
        "group": "meta.k8s.io", "kind": kind,
        "causes": [{"reason": "FieldValueNotSupported", "message": message,
                    "field": "dryRun"}]})
