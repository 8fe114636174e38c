"""Protobuf bodies of kubectl's generator commands (`kubectl create namespace|deployment|
service`): the wire format, zero values dropped like JSON's omitempty, pointers kept, and
anything not understood refused by name rather than lost."""

from __future__ import annotations

import pytest

from probelab.engine.apiserver import protobuf as pb


def varint(n: int) -> bytes:
    n &= (1 << 64) - 1
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def num(field: int, value: int) -> bytes:
    return varint(field << 3) + varint(value)


def msg(field: int, *parts: bytes | str) -> bytes:
    body = b"".join(p.encode() if isinstance(p, str) else p for p in parts)
    return varint(field << 3 | 2) + varint(len(body)) + body


def entry(field: int, key: str, value: str) -> bytes:
    return msg(field, msg(1, key), msg(2, value))


def envelope(api_version: str, kind: str, raw: bytes) -> bytes:
    return pb.MAGIC + msg(1, msg(1, api_version), msg(2, kind)) + msg(2, raw) + msg(3) + msg(4)


# ObjectMeta as gogo-protobuf writes it: every plain field, zero or not.
def meta(name: str, *extra: bytes) -> bytes:
    return msg(1, msg(1, name), msg(2), msg(3), msg(4), msg(5), msg(6), num(7, 0), msg(8),
               *extra)


def test_namespace_keeps_only_what_was_set() -> None:
    body = envelope("v1", "Namespace", meta("x1") + msg(2) + msg(3, msg(1)))
    assert pb.decode_object(body) == {"apiVersion": "v1", "kind": "Namespace",
                                      "metadata": {"name": "x1"}}


def test_deployment_from_kubectl_create_deployment() -> None:
    labels = entry(11, "app", "d1")
    container = msg(2, msg(1, "web"), msg(2, "img:1"), msg(3, "serve"), msg(4, "--port=80"),
                    msg(5), msg(6, msg(1), num(2, 0), num(3, 8080), msg(4), msg(5)), msg(8),
                    num(16, 0), msg(20))
    pod_spec = msg(2, container, msg(3), msg(6), num(11, 0), msg(24))
    strategy = msg(4, msg(1, "RollingUpdate"), msg(2, msg(1, num(1, 0), num(2, 0)),
                                                   msg(2, num(1, 1), msg(3, "25%"))))
    spec = msg(2, num(1, 0), msg(2, entry(1, "app", "d1")),
               msg(3, meta("", labels), pod_spec), strategy, num(5, 0), num(7, 0))
    body = envelope("apps/v1", "Deployment", meta("d1", labels) + spec + msg(3, msg(1)))
    assert pb.decode_object(body) == {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "d1", "labels": {"app": "d1"}},
        "spec": {
            "replicas": 0,  # a pointer: an explicit zero stays
            "selector": {"matchLabels": {"app": "d1"}},
            "template": {"metadata": {"labels": {"app": "d1"}}, "spec": {"containers": [
                {"name": "web", "image": "img:1", "command": ["serve"], "args": ["--port=80"],
                 "ports": [{"containerPort": 8080}]}]}},
            "strategy": {"type": "RollingUpdate",
                         "rollingUpdate": {"maxUnavailable": 0, "maxSurge": "25%"}},
        },
    }


def test_service_ports_and_negative_numbers() -> None:
    port = msg(1, msg(1, "http"), msg(2, "TCP"), num(3, 80), msg(4, num(1, 0), num(2, 8080)),
               num(5, -1))
    spec = msg(2, port, entry(2, "app", "s1"), msg(3, "None"), msg(4, "ClusterIP"))
    got = pb.decode_object(envelope("v1", "Service", meta("s1") + spec))
    assert got["spec"] == {"ports": [{"name": "http", "protocol": "TCP", "port": 80,
                                      "targetPort": 8080, "nodePort": -1}],
                           "selector": {"app": "s1"}, "clusterIP": "None",
                           "type": "ClusterIP"}


@pytest.mark.parametrize(
    ("body", "error", "words"),
    [
        (b"{}", pb.ProtobufError, "magic"),
        (pb.MAGIC + b"\x0a\xff", pb.ProtobufError, "truncated"),
        (envelope("v1", "Pod", b""), pb.Unsupported, "'Pod'"),
        (envelope("v1", "Namespace", meta("x") + msg(2, msg(1, "kubernetes")) + msg(9, "data")),
         pb.Unsupported, "field 9 of Namespace"),
        (envelope("v1", "Namespace", msg(1, msg(1, "x"), msg(16, msg(1, "set")))),
         pb.Unsupported, "field 16 of ObjectMeta (Namespace.metadata.16)"),
        (envelope("v1", "Namespace", msg(1, msg(1, b"\xff"))), pb.ProtobufError, "UTF-8"),
        (pb.MAGIC + msg(1, msg(1, "v1"), msg(2, "Namespace")) + msg(2) + msg(3, "gzip"),
         pb.ProtobufError, "encoded"),
    ],
)
def test_what_cannot_be_read_is_refused(body: bytes, error: type[Exception], words: str) -> None:
    with pytest.raises(error, match=words.replace("(", r"\(").replace(")", r"\)")):
        pb.decode_object(body)
