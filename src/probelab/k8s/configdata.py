"""ConfigMaps and Secrets: their keys, sizes, Secret types and immutability, as pure rules.

Sources (kubernetes/kubernetes):
- `staging/src/k8s.io/apimachinery/pkg/util/validation/validation.go` IsConfigMapKey: a key is
  `[-._a-zA-Z0-9]+`, at most 253 characters, and not `.`, `..` or `..*` (the kubelet's atomic
  writer reserves names that start with `..` for its own use).
- `pkg/apis/core/validation/validation.go` ValidateConfigMap / ValidateConfigMapUpdate /
  ValidateSecret / ValidateSecretUpdate: a key in both `data` and `binaryData` is refused; the
  total size is at most `core.MaxSecretSize` (1 MiB); a Secret's `type` decides which keys it
  needs (`kubernetes.io/tls`: `tls.crt` and `tls.key`; `kubernetes.io/dockerconfigjson`:
  `.dockerconfigjson` holding a JSON object; ...) and never changes; once `immutable: true`, the
  data and the flag itself stay as they are.
- `pkg/apis/core/v1/conversion.go` Convert_v1_Secret_To_core_Secret: `stringData` is written
  into `data` (its values win) and is never stored.
- `pkg/apis/core/v1/defaults.go` SetDefaults_Secret: `type` defaults to `Opaque`.

A Secret's `data` and a ConfigMap's `binaryData` are base64 in JSON, as Go's `[]byte` is.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from typing import Any

from probelab.k8s.checks import Checker

MAX_SIZE = 1024 * 1024  # core.MaxSecretSize, also the ConfigMap limit
KEY_MAX = 253
_KEY = re.compile(r"^[-._a-zA-Z0-9]+$")
KEY_HELP = ("a valid config key must consist of alphanumeric characters, '-', '_' or '.' "
            "(e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is "
            "'[-._a-zA-Z0-9]+')")

OPAQUE = "Opaque"
TLS = "kubernetes.io/tls"
DOCKER_CONFIG_JSON = "kubernetes.io/dockerconfigjson"
DOCKER_CFG = "kubernetes.io/dockercfg"
BASIC_AUTH = "kubernetes.io/basic-auth"
SSH_AUTH = "kubernetes.io/ssh-auth"
SERVICE_ACCOUNT_TOKEN = "kubernetes.io/service-account-token"
IMMUTABLE = "field is immutable when `immutable` is set"


def key_errors(key: str) -> list[str]:
    """IsConfigMapKey: why `key` cannot name a ConfigMap/Secret entry (empty when it can)."""
    errors = []
    if len(key) > KEY_MAX:
        errors.append(f"must be no more than {KEY_MAX} characters")
    if not _KEY.match(key):
        errors.append(KEY_HELP)
    if key == ".":
        errors.append("must not be '.'")
    elif key == "..":
        errors.append("must not be '..'")
    elif key.startswith(".."):
        errors.append("must not start with '..'")
    return errors


def decode_b64(value: Any) -> bytes | None:
    """The bytes of a base64 JSON value (None when it is not valid base64)."""
    if not isinstance(value, str):
        return None
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        return None


def encode_b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def base64_errors(obj: Mapping[str, Any]) -> list[str]:
    """Fields of a Secret's `data` or a ConfigMap's `binaryData` that are not base64 (the Go
    decoder refuses them with 400 before any validation)."""
    field = "data" if obj.get("kind") == "Secret" else "binaryData"
    values = obj.get(field)
    if not isinstance(values, dict):
        return []
    return [f"{field}[{k}]: illegal base64 data" for k, v in values.items()
            if decode_b64(v) is None]


def merge_string_data(secret: dict[str, Any]) -> None:
    """Move `stringData` into `data` (base64; stringData wins), as the v1 conversion does."""
    string_data = secret.pop("stringData", None)
    if not isinstance(string_data, dict) or not string_data:
        return
    data = secret.get("data")
    if not isinstance(data, dict):
        data = secret["data"] = {}
    for key, value in string_data.items():
        data[key] = encode_b64(str(value).encode())


def validate_config_map(check: Checker, obj: Mapping[str, Any],
                        old: Mapping[str, Any] | None) -> None:
    data = obj.get("data") or {}
    binary = obj.get("binaryData") or {}
    size = 0
    if isinstance(data, dict):
        for key, value in data.items():
            for msg in key_errors(str(key)):
                check.invalid(f"data[{key}]", key, msg)
            if isinstance(binary, dict) and key in binary:
                check.invalid(f"data[{key}]", key, "duplicate of key present in binaryData")
            size += len(str(value).encode())
    if isinstance(binary, dict):
        for key, value in binary.items():
            for msg in key_errors(str(key)):
                check.invalid(f"binaryData[{key}]", key, msg)
            size += len(decode_b64(value) or b"")
    if size > MAX_SIZE:
        check.too_long("", f"may not be more than {MAX_SIZE} bytes")
    if old is not None:
        _immutable(check, obj, old, ("data", "binaryData"))


def validate_secret(check: Checker, obj: Mapping[str, Any], old: Mapping[str, Any] | None) -> None:
    data = obj.get("data") or {}
    data = data if isinstance(data, dict) else {}
    size = 0
    for key, value in data.items():
        for msg in key_errors(str(key)):
            check.invalid(f"data[{key}]", key, msg)
        size += len(decode_b64(value) or b"")
    if size > MAX_SIZE:
        check.too_long("data", f"may not be more than {MAX_SIZE} bytes")
    _secret_type(check, obj, data)
    if old is not None:
        if obj.get("type") != old.get("type"):
            check.invalid("type", obj.get("type"), "field is immutable")
        _immutable(check, obj, old, ("data",))


def _secret_type(check: Checker, obj: Mapping[str, Any], data: Mapping[str, Any]) -> None:
    kind = obj.get("type") or OPAQUE
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    if kind == SERVICE_ACCOUNT_TOKEN:
        if not annotations.get("kubernetes.io/service-account.name"):
            check.required("metadata.annotations[kubernetes.io/service-account.name]")
    elif kind in (DOCKER_CFG, DOCKER_CONFIG_JSON):
        key = ".dockercfg" if kind == DOCKER_CFG else ".dockerconfigjson"
        if key not in data:
            check.required(f"data[{key}]")
            return
        try:
            parsed = json.loads(decode_b64(data[key]) or b"")
        except ValueError as exc:
            check.invalid(f"data[{key}]", "<secret contents redacted>", str(exc))
            return
        if not isinstance(parsed, dict):
            check.invalid(f"data[{key}]", "<secret contents redacted>",
                          "json: cannot unmarshal into Go value of type map[string]interface {}")
    elif kind == BASIC_AUTH:
        if "username" not in data and "password" not in data:
            check.required("data[username]")
            check.required("data[password]")
    elif kind == SSH_AUTH:
        if not decode_b64(data.get("ssh-privatekey")):
            check.required("data[ssh-privatekey]")
    elif kind == TLS:
        for key in ("tls.crt", "tls.key"):
            if key not in data:
                check.required(f"data[{key}]")


def _immutable(check: Checker, obj: Mapping[str, Any], old: Mapping[str, Any],
               fields: tuple[str, ...]) -> None:
    if not old.get("immutable"):
        return
    if not obj.get("immutable"):
        check.forbidden("immutable", IMMUTABLE)
    for field in fields:
        if (obj.get(field) or {}) != (old.get(field) or {}):
            check.forbidden(field, IMMUTABLE)


def decoded_data(obj: Mapping[str, Any]) -> dict[str, bytes]:
    """Every key of a ConfigMap (data and binaryData) or a Secret (data) as bytes."""
    out: dict[str, bytes] = {}
    if obj.get("kind") == "Secret":
        for key, value in (obj.get("data") or {}).items():
            out[key] = decode_b64(value) or b""
        return out
    for key, value in (obj.get("data") or {}).items():
        out[key] = str(value).encode()
    for key, value in (obj.get("binaryData") or {}).items():
        out[key] = decode_b64(value) or b""
    return out
