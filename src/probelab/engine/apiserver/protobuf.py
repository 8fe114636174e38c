"""Reading the protobuf bodies kubectl's generator commands send (`kubectl create namespace`,
`create deployment`, `create service`), so they work like the rest of kubectl.

Those commands go through client-go's typed clients, which encode built-in kinds as
`application/vnd.kubernetes.protobuf` and, unlike CBOR, never fall back to JSON after a 415.
The body is the Kubernetes envelope (`k8s.io/apimachinery/pkg/runtime/types_proto.go`): the magic
`k8s\\0`, then a `runtime.Unknown` message {typeMeta, raw, contentEncoding, contentType} whose
`raw` is the object's own message. Messages are gogo-protobuf encoded, which writes every
non-pointer field, zero values included, while JSON omits them.

Only what those generators fill in is mapped to JSON names here (field numbers from the
`generated.proto` files of `k8s.io/api`). Any other field that holds a zero value is dropped, as
the JSON `omitempty` tag would; one that holds data is refused with its message and number, so
nothing is ever silently lost. Status is ignored: the server resets it on create anyway.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

MEDIA_TYPE = "application/vnd.kubernetes.protobuf"
MAGIC = b"k8s\x00"


class ProtobufError(ValueError):
    """A body that is not a well-formed Kubernetes protobuf envelope."""


class Unsupported(ProtobufError):
    """Well-formed, but of a kind or with a field this reader does not map."""


@dataclass(frozen=True)
class Field:
    name: str  # the JSON name
    kind: str  # "string", "int", "bool", "map", "intorstr", "ignore", or a message name
    repeated: bool = False
    keep_zero: bool = False  # a pointer field in Go: an explicit 0 means 0, not "unset"


def _f(name: str, kind: str = "string", **kw: bool) -> Field:
    return Field(name, kind, **kw)


META = {1: _f("name"), 2: _f("generateName"), 3: _f("namespace"), 5: _f("uid"),
        6: _f("resourceVersion"), 11: _f("labels", "map"), 12: _f("annotations", "map"),
        14: _f("finalizers", repeated=True)}
MESSAGES: dict[str, dict[int, Field]] = {
    "ObjectMeta": META,
    "Namespace": {1: _f("metadata", "ObjectMeta"), 2: _f("spec", "NamespaceSpec"),
                  3: _f("status", "ignore")},
    "NamespaceSpec": {1: _f("finalizers", repeated=True)},
    "Service": {1: _f("metadata", "ObjectMeta"), 2: _f("spec", "ServiceSpec"),
                3: _f("status", "ignore")},
    "ServiceSpec": {1: _f("ports", "ServicePort", repeated=True), 2: _f("selector", "map"),
                    3: _f("clusterIP"), 4: _f("type"), 10: _f("externalName")},
    "ServicePort": {1: _f("name"), 2: _f("protocol"), 3: _f("port", "int"),
                    4: _f("targetPort", "intorstr"), 5: _f("nodePort", "int")},
    "Deployment": {1: _f("metadata", "ObjectMeta"), 2: _f("spec", "DeploymentSpec"),
                   3: _f("status", "ignore")},
    "DeploymentSpec": {1: _f("replicas", "int", keep_zero=True),
                       2: _f("selector", "LabelSelector"),
                       3: _f("template", "PodTemplateSpec"),
                       4: _f("strategy", "DeploymentStrategy"), 5: _f("minReadySeconds", "int"),
                       6: _f("revisionHistoryLimit", "int", keep_zero=True),
                       7: _f("paused", "bool"),
                       9: _f("progressDeadlineSeconds", "int", keep_zero=True)},
    "DeploymentStrategy": {1: _f("type"), 2: _f("rollingUpdate", "RollingUpdateDeployment")},
    "RollingUpdateDeployment": {1: _f("maxUnavailable", "intorstr", keep_zero=True),
                                2: _f("maxSurge", "intorstr", keep_zero=True)},
    "LabelSelector": {1: _f("matchLabels", "map"),
                      2: _f("matchExpressions", "LabelSelectorRequirement", repeated=True)},
    "LabelSelectorRequirement": {1: _f("key"), 2: _f("operator"),
                                 3: _f("values", repeated=True)},
    "PodTemplateSpec": {1: _f("metadata", "ObjectMeta"), 2: _f("spec", "PodSpec")},
    "PodSpec": {2: _f("containers", "Container", repeated=True), 3: _f("restartPolicy")},
    "Container": {1: _f("name"), 2: _f("image"), 3: _f("command", repeated=True),
                  4: _f("args", repeated=True), 6: _f("ports", "ContainerPort", repeated=True)},
    "ContainerPort": {1: _f("name"), 2: _f("hostPort", "int"), 3: _f("containerPort", "int"),
                      4: _f("protocol"), 5: _f("hostIP")},
    # policy/v1 (`kubectl create pdb`, and the Eviction `kubectl drain` posts)
    "PodDisruptionBudget": {1: _f("metadata", "ObjectMeta"),
                            2: _f("spec", "PodDisruptionBudgetSpec"), 3: _f("status", "ignore")},
    "PodDisruptionBudgetSpec": {1: _f("minAvailable", "intorstr", keep_zero=True),
                                2: _f("selector", "LabelSelector"),
                                3: _f("maxUnavailable", "intorstr", keep_zero=True),
                                4: _f("unhealthyPodEvictionPolicy")},
    "Eviction": {1: _f("metadata", "ObjectMeta"), 2: _f("deleteOptions", "DeleteOptions")},
    "DeleteOptions": {1: _f("gracePeriodSeconds", "int", keep_zero=True),
                      2: _f("preconditions", "Preconditions"), 3: _f("orphanDependents", "bool"),
                      4: _f("propagationPolicy"), 5: _f("dryRun", repeated=True)},
    "Preconditions": {1: _f("uid"), 2: _f("resourceVersion")},
    # batch/v1 (`kubectl create job|cronjob`), autoscaling/v2 (`kubectl autoscale`)
    "Job": {1: _f("metadata", "ObjectMeta"), 2: _f("spec", "JobSpec"), 3: _f("status", "ignore")},
    "JobSpec": {1: _f("parallelism", "int", keep_zero=True),
                2: _f("completions", "int", keep_zero=True),
                3: _f("activeDeadlineSeconds", "int"), 4: _f("selector", "LabelSelector"),
                5: _f("manualSelector", "bool"), 6: _f("template", "PodTemplateSpec"),
                7: _f("backoffLimit", "int", keep_zero=True),
                8: _f("ttlSecondsAfterFinished", "int", keep_zero=True),
                9: _f("completionMode"), 10: _f("suspend", "bool"),
                14: _f("podReplacementPolicy")},
    "JobTemplateSpec": {1: _f("metadata", "ObjectMeta"), 2: _f("spec", "JobSpec")},
    "CronJob": {1: _f("metadata", "ObjectMeta"), 2: _f("spec", "CronJobSpec"),
                3: _f("status", "ignore")},
    "CronJobSpec": {1: _f("schedule"), 2: _f("startingDeadlineSeconds", "int"),
                    3: _f("concurrencyPolicy"), 4: _f("suspend", "bool"),
                    5: _f("jobTemplate", "JobTemplateSpec"),
                    6: _f("successfulJobsHistoryLimit", "int", keep_zero=True),
                    7: _f("failedJobsHistoryLimit", "int", keep_zero=True), 8: _f("timeZone")},
    "HorizontalPodAutoscaler": {1: _f("metadata", "ObjectMeta"),
                                2: _f("spec", "HorizontalPodAutoscalerSpec"),
                                3: _f("status", "ignore")},
    "HorizontalPodAutoscalerSpec": {1: _f("scaleTargetRef", "CrossVersionObjectReference"),
                                    2: _f("minReplicas", "int", keep_zero=True),
                                    3: _f("maxReplicas", "int", keep_zero=True),
                                    4: _f("metrics", "MetricSpec", repeated=True)},
    "CrossVersionObjectReference": {1: _f("kind"), 2: _f("name"), 3: _f("apiVersion")},
    "MetricSpec": {1: _f("type"), 4: _f("resource", "ResourceMetricSource")},
    "ResourceMetricSource": {1: _f("name"), 2: _f("target", "MetricTarget")},
    "MetricTarget": {1: _f("type"), 4: _f("averageUtilization", "int", keep_zero=True)},
}
# `kubectl create configmap|secret` (k8s.io/api core/v1 generated.proto): Go's []byte values
# ("bytesmap") are base64 in JSON.
MESSAGES["ConfigMap"] = {1: _f("metadata", "ObjectMeta"), 2: _f("data", "map"),
                         3: _f("binaryData", "bytesmap"), 4: _f("immutable", "bool")}
MESSAGES["Secret"] = {1: _f("metadata", "ObjectMeta"), 2: _f("data", "bytesmap"),
                      3: _f("type"), 4: _f("stringData", "map"), 5: _f("immutable", "bool")}
KINDS = ("Namespace", "Service", "Deployment", "ConfigMap", "Secret", "PodDisruptionBudget",
         "Eviction", "Job", "CronJob", "HorizontalPodAutoscaler")


# ---- wire format ---------------------------------------------------------------------------
def _varint(data: bytes, i: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if i >= len(data) or shift > 63:
            raise ProtobufError("truncated varint")
        byte = data[i]
        i += 1
        result |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return result, i


def fields(data: bytes) -> list[tuple[int, int | bytes]]:
    """(field number, value) pairs: ints for varints, bytes for length-delimited values."""
    out: list[tuple[int, int | bytes]] = []
    i = 0
    while i < len(data):
        key, i = _varint(data, i)
        number, wire = key >> 3, key & 7
        if number == 0:
            raise ProtobufError("field number 0")
        if wire == 0:
            value, i = _varint(data, i)
            out.append((number, value))
        elif wire == 2:
            size, i = _varint(data, i)
            if i + size > len(data):
                raise ProtobufError("truncated field")
            out.append((number, data[i:i + size]))
            i += size
        elif wire in (1, 5):
            i += 8 if wire == 1 else 4
            if i > len(data):
                raise ProtobufError("truncated field")
            out.append((number, 1))  # fixed-width numbers: no mapped field uses them
        else:
            raise ProtobufError(f"unsupported wire type {wire}")
    return out


def _is_zero(value: int | bytes, depth: int = 0) -> bool:
    """True for 0, b"", and nested messages made only of zero values."""
    if isinstance(value, int):
        return value == 0
    if not value:
        return True
    if depth > 20:
        return False
    try:
        return all(_is_zero(v, depth + 1) for _, v in fields(value))
    except ProtobufError:
        return False


# ---- messages ------------------------------------------------------------------------------
def _text(value: int | bytes, where: str) -> str:
    if not isinstance(value, bytes):
        raise ProtobufError(f"{where}: expected a string")
    try:
        return value.decode()
    except UnicodeDecodeError:
        raise ProtobufError(f"{where}: not UTF-8") from None


def _scalar(field: Field, value: int | bytes, where: str) -> Any:
    if field.kind == "string":
        return _text(value, where)
    if not isinstance(value, int):
        raise ProtobufError(f"{where}: expected a number")
    if field.kind == "bool":
        return bool(value)
    return value - (1 << 64) if value >= 1 << 63 else value  # int32/int64 are two's complement


def _int_or_string(data: bytes, where: str) -> int | str:
    parts = dict(fields(data))
    if parts.get(1, 0) == 1:
        return _text(parts.get(3, b""), where)
    value = parts.get(2, 0)
    return value if isinstance(value, int) else 0


def _map(entries: list[int | bytes], where: str, binary: bool = False) -> dict[str, str]:
    """A map<string, string> (or, with `binary`, map<string, bytes> as JSON's base64)."""
    out = {}
    for entry in entries:
        if not isinstance(entry, bytes):
            raise ProtobufError(f"{where}: expected a map entry")
        parts = dict(fields(entry))
        value = parts.get(2, b"")
        if binary:
            if not isinstance(value, bytes):
                raise ProtobufError(f"{where}: expected bytes")
            out[_text(parts.get(1, b""), where)] = base64.b64encode(value).decode("ascii")
        else:
            out[_text(parts.get(1, b""), where)] = _text(value, where)
    return out


def decode_message(name: str, data: bytes, where: str = "") -> dict[str, Any]:
    schema = MESSAGES[name]
    where = where or name
    grouped: dict[int, list[int | bytes]] = {}
    for number, value in fields(data):
        grouped.setdefault(number, []).append(value)
    out: dict[str, Any] = {}
    for number, values in grouped.items():
        field = schema.get(number)
        path = f"{where}.{field.name if field else number}"
        if field is None:
            if not all(_is_zero(v) for v in values):
                raise Unsupported(f"field {number} of {name} ({path}) is not understood")
            continue
        if field.kind == "ignore":
            continue
        if field.kind in ("map", "bytesmap"):
            value: Any = _map(values, path, binary=field.kind == "bytesmap")
        elif field.kind in MESSAGES or field.kind == "intorstr":
            items = []
            for v in values:
                if not isinstance(v, bytes):
                    raise ProtobufError(f"{path}: expected a message")
                items.append(_int_or_string(v, path) if field.kind == "intorstr"
                             else decode_message(field.kind, v, path))
            value = items if field.repeated else items[-1]
        else:
            scalars = [_scalar(field, v, path) for v in values]
            value = scalars if field.repeated else scalars[-1]
        if value in ("", 0, False, {}, []) and not (field.keep_zero and value == 0):
            continue
        out[field.name] = value
    return out


def decode_object(body: bytes) -> dict[str, Any]:
    """The JSON form of a protobuf-encoded object (ProtobufError/Unsupported if it cannot be)."""
    if not body.startswith(MAGIC):
        raise ProtobufError("the body does not start with the Kubernetes protobuf magic")
    envelope = dict(fields(body[len(MAGIC):]))
    type_meta = dict(fields(envelope.get(1, b""))) if isinstance(envelope.get(1), bytes) else {}
    api_version = _text(type_meta.get(1, b""), "typeMeta.apiVersion")
    kind = _text(type_meta.get(2, b""), "typeMeta.kind")
    raw = envelope.get(2, b"")
    if envelope.get(3) or not isinstance(raw, bytes):
        raise ProtobufError("encoded (compressed) protobuf bodies are not supported")
    if kind not in KINDS:
        raise Unsupported(f"protobuf bodies are read for {', '.join(KINDS)} only, not {kind!r}")
    return {"apiVersion": api_version, "kind": kind, **decode_message(kind, raw)}
