"""The pure parts of the streaming subresources: SPDY/3.1 frames and header compression, the
channel protocols' messages and choices, the request checks, and the namespace decision of an
exec. The protocols end to end (real kubectl, the official client, raw WebSocket frames) are
in test_streaming_e2e.py."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

import pytest

from probelab.engine.apiserver.status import ApiError
from probelab.engine.apiserver.streaming import channels, options, spdy
from probelab.engine.kubelet import namespaces

FIXTURES = Path(__file__).parent / "fixtures" / "streaming"


def kubectl_messages() -> list[bytes]:
    data = (FIXTURES / "kubectl-1.37-portforward.spdy").read_bytes()
    messages, i = [], 0
    while i < len(data):
        (n,) = struct.unpack_from(">I", data, i)
        messages.append(data[i + 4:i + 4 + n])
        i += 4 + n
    return messages


# ---- SPDY ----------------------------------------------------------------------------------------
def test_the_dictionary_is_spdy3s() -> None:
    # 2.6.10.1: 1423 bytes, beginning with "options" and ending with "enq=0.".
    assert len(spdy.DICTIONARY) == 1423
    assert spdy.DICTIONARY.startswith(b"\x00\x00\x00\x07options\x00\x00\x00\x04head")
    assert spdy.DICTIONARY.endswith(b",*,enq=0.")


def test_kubectls_frames_decode_one_field_per_message() -> None:
    reader = spdy.Reader(spdy.Codec())
    frames = [f for m in kubectl_messages() for f in reader.feed(m)]
    syns = [f for f in frames if f.type == spdy.SYN_STREAM]
    assert [(f.stream_id, f.headers) for f in syns] == [
        (1, {"streamtype": "error", "port": "8080", "requestid": "0"}),
        (3, {"requestid": "0", "streamtype": "data", "port": "8080"}),
    ]
    data = [f for f in frames if f.type == 0]
    assert [(f.stream_id, f.fin) for f in data] == [(1, True), (3, False), (3, True)]
    assert data[1].data.startswith(b"GET / HTTP/1.1\r\nHost: 127.0.0.1:18090\r\n")


def test_header_blocks_share_one_zlib_stream_per_direction() -> None:
    writer, reader = spdy.Codec(), spdy.Reader(spdy.Codec())
    first = spdy.syn_stream(writer, 1, {"streamType": "error", "port": "80", "requestID": "7"})
    second = spdy.syn_stream(writer, 3, {"streamType": "data", "port": "80", "requestID": "7"})
    # The second block refers back to the first: alone, a fresh decoder cannot read it.
    with pytest.raises(spdy.ProtocolError):
        spdy.Reader(spdy.Codec()).feed(second)
    frames = reader.feed(first + second)
    assert [f.headers for f in frames] == [
        {"streamtype": "error", "port": "80", "requestid": "7"},
        {"streamtype": "data", "port": "80", "requestid": "7"}]


def test_a_frame_split_anywhere_is_read_whole_and_once() -> None:
    codec = spdy.Codec()
    wire = (spdy.syn_reply(codec, 5, {"a": "b"}) + spdy.data_frame(5, b"x" * 300)
            + spdy.data_frame(5, b"", fin=True) + spdy.ping(9) + spdy.rst_stream(5, spdy.CANCEL)
            + spdy.goaway(5))
    reader = spdy.Reader(spdy.Codec())
    frames = [f for i in range(len(wire)) for f in reader.feed(wire[i:i + 1])]
    assert [(f.type, f.stream_id) for f in frames] == [
        (spdy.SYN_REPLY, 5), (0, 5), (0, 5), (spdy.PING, 0), (spdy.RST_STREAM, 5),
        (spdy.GOAWAY, 5)]
    assert frames[0].headers == {"a": "b"}
    assert frames[1].data == b"x" * 300 and not frames[1].fin
    assert frames[2].fin and frames[2].data == b""
    assert frames[3].ping_id == 9
    assert frames[4].status == spdy.CANCEL


def test_frames_are_laid_out_as_the_draft_says() -> None:
    assert spdy.data_frame(3, b"hi", fin=True) == b"\x00\x00\x00\x03\x01\x00\x00\x02hi"
    assert spdy.ping(1) == b"\x80\x03\x00\x06\x00\x00\x00\x04\x00\x00\x00\x01"
    assert spdy.rst_stream(3, 5) == (b"\x80\x03\x00\x03\x00\x00\x00\x08"
                                     b"\x00\x00\x00\x03\x00\x00\x00\x05")
    block = zlib.decompressobj(zdict=spdy.DICTIONARY).decompress(
        spdy.Codec().encode_headers({"Port": "80"}))
    assert block == b"\x00\x00\x00\x01\x00\x00\x00\x04port\x00\x00\x00\x0280"


@pytest.mark.parametrize("wire,why", [
    (b"\x80\x02\x00\x06\x00\x00\x00\x04\x00\x00\x00\x01", "version 2"),
    (b"\x00\x00\x00\x01\x00\xff\xff\xff", "a frame of 16 MiB"),
    (b"\x80\x03\x00\x01\x00\x00\x00\x0c\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00garbage!",
     "a header block that is not zlib"),
    (b"\x80\x03\x00\x06\x00\x00\x00\x02\x00\x00", "a PING too short"),
])
def test_what_is_not_spdy3_is_refused(wire, why) -> None:
    with pytest.raises(spdy.ProtocolError):
        spdy.Reader(spdy.Codec()).feed(wire)


def test_a_header_block_bomb_is_refused() -> None:
    codec = spdy.Codec()
    huge = spdy.syn_stream(codec, 1, {"x": "a" * (2 << 20)})
    with pytest.raises(spdy.ProtocolError):
        spdy.Reader(spdy.Codec(), max_frame=len(huge)).feed(huge)


# ---- channels ------------------------------------------------------------------------------------
@pytest.mark.parametrize("header,served,expected", [
    ("v5.channel.k8s.io", channels.EXEC_PROTOCOLS, "v5.channel.k8s.io"),
    ("v4.channel.k8s.io, v5.channel.k8s.io", channels.EXEC_PROTOCOLS, "v5.channel.k8s.io"),
    ("v5.channel.k8s.io,v4.channel.k8s.io", channels.PORTFORWARD_PROTOCOLS,
     "v4.channel.k8s.io"),
    ("SPDY/3.1+portforward.k8s.io", channels.PORTFORWARD_PROTOCOLS,
     "SPDY/3.1+portforward.k8s.io"),
    ("channel.k8s.io", channels.EXEC_PROTOCOLS, None),
    (None, channels.EXEC_PROTOCOLS, None),
])
def test_the_servers_best_common_protocol(header, served, expected) -> None:
    assert channels.choose(channels.offered(header), served) == expected


def test_the_status_of_a_non_zero_exit_carries_the_code() -> None:
    frame = channels.status_frame(channels.exit_status(["sh", "-c", "exit 3"], 3))
    assert frame[0] == channels.ERROR
    status = json.loads(frame[1:])
    assert status["status"] == "Failure" and status["reason"] == "NonZeroExitCode"
    assert status["details"]["causes"] == [{"reason": "ExitCode", "message": "3"}]
    assert json.loads(channels.status_frame(channels.success_status())[1:]) == {
        "metadata": {}, "status": "Success"}


@pytest.mark.parametrize("data,expected", [
    (b'{"Width":80,"Height":24}', (80, 24)), (b'{"Width":80}', None), (b"nonsense", None),
    (b'{"Width":-1,"Height":24}', None), (b'{"Width":"x","Height":24}', None)])
def test_resize_messages(data, expected) -> None:
    assert channels.parse_resize(data) == expected


def test_port_prefix_is_two_bytes_little_endian() -> None:
    assert channels.port_prefix(1, 8080) == b"\x01\x90\x1f"
    assert channels.parse(b"") is None and channels.parse(b"\x00ab") == (0, b"ab")


# ---- request checks --------------------------------------------------------------------------
def pod(*names: str, node: str = "probelab") -> dict:
    return {"metadata": {"name": "p"},
            "spec": {"nodeName": node, "containers": [{"name": n} for n in names]}}


@pytest.mark.parametrize("spec,asked,expected", [
    (pod("a"), "", "a"), (pod("a", "b"), "b", "b"),
    (pod("a", "b"), "", "a container name must be specified for pod p, choose one of: [a b]"),
    (pod("a"), "x", "container x is not valid for pod p"),
    (pod("a", node=""), "a", "pod p does not have a host assigned"),
])
def test_the_container_a_request_addresses(spec, asked, expected) -> None:
    try:
        assert options.container_of(spec, asked) == expected
    except ApiError as exc:
        assert (exc.code, exc.message) == (400, expected)


def test_stream_options_defaults_and_refusals() -> None:
    opts = options.stream_options(pod("a"), {"command": "ls", "tty": "true"}, ["ls"], True)
    assert (opts.stdout, opts.stderr, opts.tty, opts.stdin) == (True, False, True, False)
    with pytest.raises(ApiError, match="at least one command"):
        options.stream_options(pod("a"), {}, [], True)
    with pytest.raises(ApiError, match="at least 1 of stdin, stdout, stderr"):
        options.stream_options(pod("a"), {"stdout": "false", "stderr": "false"}, ["ls"], True)
    assert options.stream_options(pod("a"), {}, [], False).command == ()


@pytest.mark.parametrize("values,expected", [
    (["8080"], [8080]), (["80,443"], [80, 443]), (["80", "81"], [80, 81]),
    ([], 'query parameter "port" is required'), (["0"], "port 0 must be in the range"),
    (["http"], 'unable to parse "http" as a port')])
def test_port_forward_ports(values, expected) -> None:
    try:
        assert options.ports_of(values) == expected
    except ApiError as exc:
        assert exc.code == 400 and exc.message.startswith(expected)


# ---- namespaces of an exec -----------------------------------------------------------------------
def test_an_exec_enters_only_the_namespaces_that_differ() -> None:
    engine = {"net": "net:[1]", "mnt": "mnt:[2]", "uts": "uts:[3]", "ipc": "ipc:[4]"}
    assert namespaces.to_enter(engine, engine) == []
    pod_ns = {**engine, "net": "net:[9]", "mnt": "mnt:[8]"}
    assert namespaces.to_enter(pod_ns, engine) == ["net", "mnt"]
    assert namespaces.to_enter({"net": "net:[9]"}, {}) == []  # unreadable: left alone


def test_nsenter_argv() -> None:
    assert namespaces.nsenter_argv(7, [], ["ls"]) == ["ls"]
    assert namespaces.nsenter_argv(7, ["net"], ["ls", "-l"], nsenter="/bin/nsenter") == [
        "/bin/nsenter", "--target=7", "--net", "--", "ls", "-l"]
    assert namespaces.nsenter_argv(7, ["net", "mnt"], ["ls"], nsenter="ns") == [
        "ns", "--target=7", "--net", "--mount", "--root", "--wd", "--", "ls"]


def test_the_engine_reads_its_own_namespaces() -> None:
    own = namespaces.namespace_ids("self")
    assert own.get("net", "").startswith("net:[")
    assert namespaces.to_enter(own, namespaces.namespace_ids("self")) == []
