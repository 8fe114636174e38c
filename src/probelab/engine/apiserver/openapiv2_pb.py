"""The OpenAPI v2 document as protobuf: the gnostic `openapi_v2.Document` message
(`github.com/google/gnostic-models/openapiv2/OpenAPIv2.proto`), which client-go's discovery
client (`OpenAPISchema`) unmarshals and kubectl validates `kind: List` items with.

An encoder of the part of that schema a Kubernetes document uses, written from the `.proto`:
each message is a table of JSON name -> (field number, kind). Kinds are `str`, `bool`, `int`
(varint), `double` (64-bit), `any` (a gnostic `Any` holding the value as YAML text, which
JSON is: how gnostic carries defaults, enums, examples and vendor extensions) or a message
name; repeated fields are lists. Keys starting with `x-` become `vendor_extension` entries
(`NamedAny`), as gnostic's compiler files them. Unknown keys are left out (the document is
ours, so there are none that matter).
"""

from __future__ import annotations

import json
import struct
from typing import Any

# message -> JSON name -> (field number, kind); "*" marks a repeated field.
_SCHEMA_FIELDS = {
    "$ref": (1, "str"), "format": (2, "str"), "title": (3, "str"), "description": (4, "str"),
    "default": (5, "any"), "multipleOf": (6, "double"), "maximum": (7, "double"),
    "exclusiveMaximum": (8, "bool"), "minimum": (9, "double"), "exclusiveMinimum": (10, "bool"),
    "maxLength": (11, "int"), "minLength": (12, "int"), "pattern": (13, "str"),
    "maxItems": (14, "int"), "minItems": (15, "int"), "uniqueItems": (16, "bool"),
    "maxProperties": (17, "int"), "minProperties": (18, "int"), "required": (19, "*str"),
    "enum": (20, "*any"), "additionalProperties": (21, "AdditionalPropertiesItem"),
    "type": (22, "TypeItem"), "items": (23, "ItemsItem"), "allOf": (24, "*Schema"),
    "properties": (25, "Properties"), "discriminator": (26, "str"), "readOnly": (27, "bool"),
    "example": (30, "any"),
}
_PRIMITIVE_PARAM = {"required": 1, "in": 2, "description": 3, "name": 4}
MESSAGES: dict[str, dict[str, tuple[int, str]]] = {
    "Document": {"swagger": (1, "str"), "info": (2, "Info"), "host": (3, "str"),
                 "basePath": (4, "str"), "schemes": (5, "*str"), "consumes": (6, "*str"),
                 "produces": (7, "*str"), "paths": (8, "Paths"),
                 "definitions": (9, "Definitions")},
    "Info": {"title": (1, "str"), "version": (2, "str"), "description": (3, "str")},
    "PathItem": {"$ref": (1, "str"), "get": (2, "Operation"), "put": (3, "Operation"),
                 "post": (4, "Operation"), "delete": (5, "Operation"),
                 "options": (6, "Operation"), "head": (7, "Operation"),
                 "patch": (8, "Operation"), "parameters": (9, "*ParametersItem")},
    "Operation": {"tags": (1, "*str"), "summary": (2, "str"), "description": (3, "str"),
                  "operationId": (5, "str"), "produces": (6, "*str"), "consumes": (7, "*str"),
                  "parameters": (8, "*ParametersItem"), "responses": (9, "Responses"),
                  "schemes": (10, "*str"), "deprecated": (11, "bool")},
    "BodyParameter": {"description": (1, "str"), "name": (2, "str"), "in": (3, "str"),
                      "required": (4, "bool"), "schema": (5, "Schema")},
    # QueryParameterSubSchema: type 6, format 7, uniqueItems 20 (allowEmptyValue 5 first)
    "QueryParameterSubSchema": {
        **{k: (n, "bool" if k == "required" else "str") for k, n in _PRIMITIVE_PARAM.items()},
        "type": (6, "str"), "format": (7, "str"), "uniqueItems": (20, "bool")},
    # PathParameterSubSchema: no allowEmptyValue, so type 5, format 6, uniqueItems 19
    "PathParameterSubSchema": {
        **{k: (n, "bool" if k == "required" else "str") for k, n in _PRIMITIVE_PARAM.items()},
        "type": (5, "str"), "format": (6, "str"), "uniqueItems": (19, "bool")},
    "Response": {"description": (1, "str"), "schema": (2, "SchemaItem")},
    "Schema": _SCHEMA_FIELDS,
}
# Where vendor extensions go (field number of `repeated NamedAny vendor_extension`).
VENDOR_EXTENSION = {"Document": 16, "Info": 7, "PathItem": 10, "Operation": 13,
                    "BodyParameter": 6, "QueryParameterSubSchema": 23,
                    "PathParameterSubSchema": 22, "Response": 5, "Schema": 31}


def _varint(n: int) -> bytes:
    if n < 0:
        n += 1 << 64
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _key(number: int, wire: int) -> bytes:
    return _varint(number << 3 | wire)


def _bytes_field(number: int, data: bytes) -> bytes:
    return _key(number, 2) + _varint(len(data)) + data


def _string(number: int, text: str) -> bytes:
    return _bytes_field(number, text.encode()) if text else b""


def _any(value: Any) -> bytes:
    """gnostic `Any` {value = 1 (google.protobuf.Any), yaml = 2}: the value as YAML text."""
    return _string(2, json.dumps(value, separators=(",", ":")))


def _named(number: int, name: str, value: bytes) -> bytes:
    """One `Named*` entry {name = 1, value = 2} of a map kept in order."""
    return _bytes_field(number, _string(1, name) + _bytes_field(2, value))


def _scalar(number: int, kind: str, value: Any) -> bytes:
    if kind == "str":
        return _string(number, str(value))
    if kind == "bool":
        return _key(number, 0) + b"\x01" if value else b""
    if kind == "int":
        return _key(number, 0) + _varint(int(value)) if value else b""
    if kind == "double":
        return _key(number, 1) + struct.pack("<d", float(value))
    if kind == "any":
        return _bytes_field(number, _any(value))
    return _bytes_field(number, encode(kind, value))


def encode(message: str, value: Any) -> bytes:
    """One message from its JSON form."""
    special = _SPECIAL.get(message)
    if special is not None:
        return special(value)
    fields = MESSAGES[message]
    out = bytearray()
    for key, item in value.items():
        if key.startswith("x-") and message in VENDOR_EXTENSION:
            continue
        if key not in fields:
            continue
        number, kind = fields[key]
        if kind.startswith("*"):
            for element in item:
                out += _scalar(number, kind[1:], element)
        else:
            out += _scalar(number, kind, item)
    if message in VENDOR_EXTENSION:
        for key, item in value.items():
            if key.startswith("x-"):
                out += _named(VENDOR_EXTENSION[message], key, _any(item))
    return bytes(out)


def _named_map(value_message: str, number: int = 1) -> Any:
    def encode_map(value: dict[str, Any]) -> bytes:
        return b"".join(_named(number, name, encode(value_message, item))
                        for name, item in value.items())
    return encode_map


def _paths(value: dict[str, Any]) -> bytes:
    """Paths {vendor_extension = 1, path = 2 (NamedPathItem)}."""
    return b"".join(_named(2, name, encode("PathItem", item)) for name, item in value.items())


def _parameters_item(value: dict[str, Any]) -> bytes:
    """ParametersItem {parameter = 1} > Parameter {body_parameter = 1, non_body_parameter = 2}
    > NonBodyParameter {query_parameter_sub_schema = 3, path_parameter_sub_schema = 4}."""
    if value.get("in") == "body":
        parameter = _bytes_field(1, encode("BodyParameter", value))
    else:
        number, sub = {"path": (4, "PathParameterSubSchema")}.get(
            value.get("in", ""), (3, "QueryParameterSubSchema"))
        parameter = _bytes_field(2, _bytes_field(number, encode(sub, value)))
    return _bytes_field(1, parameter)


def _responses(value: dict[str, Any]) -> bytes:
    """Responses {response_code = 1 (NamedResponseValue)} > ResponseValue {response = 1}."""
    return b"".join(_named(1, code, _bytes_field(1, encode("Response", response)))
                    for code, response in value.items())


def _additional_properties(value: Any) -> bytes:
    """AdditionalPropertiesItem {schema = 1, boolean = 2}."""
    if isinstance(value, bool):
        return _key(2, 0) + (b"\x01" if value else b"\x00")
    return _bytes_field(1, encode("Schema", value))


def _type_item(value: Any) -> bytes:
    """TypeItem {repeated string value = 1}."""
    values = value if isinstance(value, list) else [value]
    return b"".join(_string(1, str(v)) for v in values)


def _items_item(value: Any) -> bytes:
    """ItemsItem {repeated Schema schema = 1}."""
    values = value if isinstance(value, list) else [value]
    return b"".join(_bytes_field(1, encode("Schema", v)) for v in values)


def _schema_item(value: dict[str, Any]) -> bytes:
    """SchemaItem {schema = 1}."""
    return _bytes_field(1, encode("Schema", value))


_SPECIAL = {
    "Paths": _paths, "Definitions": _named_map("Schema"), "Properties": _named_map("Schema"),
    "ParametersItem": _parameters_item, "Responses": _responses,
    "AdditionalPropertiesItem": _additional_properties, "TypeItem": _type_item,
    "ItemsItem": _items_item, "SchemaItem": _schema_item,
}


def encode_document(document: dict[str, Any]) -> bytes:
    return encode("Document", document)
