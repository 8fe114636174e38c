"""`kubectl exec|cp|attach|port-forward` and the official client's `stream` against a real
engine with real pods: the streaming subresources end to end (docs/api.md, docs/kubectl.md).

One engine for the module (it runs the pods every test uses). Every process a stream starts
is checked to be gone after the test (and, for the one left running, once the engine stops).
"""

from __future__ import annotations

import fcntl
import gc
import http.client
import json
import os
import pty
import select
import struct
import subprocess
import termios
import warnings
from pathlib import Path

import pytest
import yaml
from kubernetes.client.exceptions import ApiException
from kubernetes.stream import portforward, stream

from probelab.engine.apiserver.streaming import spdy
from support.paths import KUBECTL
from support.processes import pid_alive, stop_process
from support.real_engine import RealEngine
from support.sockets import free_port
from support.waiting import wait_until
from support.wsclient import BINARY, CLOSE, CONT, WsClient, encode_frame

NS = "default"
TICKER = "i=0; while true; do i=$((i+1)); echo tick $i; sleep 0.2; done"
PODS = [
    {"apiVersion": "v1", "kind": "Pod",
     "metadata": {"name": "shell", "labels": {"app": "shell"}},
     "spec": {"terminationGracePeriodSeconds": 1, "containers": [{
         "name": "sh", "image": "busybox", "command": ["sh", "-c", TICKER],
         "env": [{"name": "GREETING", "value": "hello from $(POD_NAME)"}]}]}},
    {"apiVersion": "v1", "kind": "Pod",
     "metadata": {"name": "two", "annotations": {
         "kubectl.kubernetes.io/default-container": "b"}},
     "spec": {"terminationGracePeriodSeconds": 1, "containers": [
         {"name": "a", "image": "busybox", "command": ["sh", "-c", "exec sleep 3600"],
          "env": [{"name": "WHO", "value": "a"}]},
         {"name": "b", "image": "busybox", "command": ["sh", "-c", "exec sleep 3600"],
          "env": [{"name": "WHO", "value": "b"}]}]}},
    {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "labels": {"app": "web"}},
     "spec": {"terminationGracePeriodSeconds": 1, "containers": [{
         "name": "web", "image": "probelab/simpleweb:1.0",
         "ports": [{"name": "http", "containerPort": 8080}]}]}},
    {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "reader"},
     "spec": {"restartPolicy": "Never", "terminationGracePeriodSeconds": 1, "containers": [{
         "name": "c", "image": "busybox", "stdin": True, "stdinOnce": True,
         "command": ["sh", "-c", 'while read line; do echo "got $line"; done; echo bye']}]}},
    {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "done"},
     "spec": {"restartPolicy": "Never", "containers": [{
         "name": "c", "image": "busybox", "command": ["true"]}]}},
    {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web"},
     "spec": {"selector": {"app": "web"},
              "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}},
    {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "webdeploy"},
     "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "webdeploy"}},
              "template": {"metadata": {"labels": {"app": "webdeploy"}},
                           "spec": {"terminationGracePeriodSeconds": 1, "containers": [{
                               "name": "web", "image": "probelab/simpleweb:1.0",
                               "ports": [{"containerPort": 8080}]}]}}}},
]


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("streaming")
    with RealEngine(tmp, "--image", "busybox=sh", "--log-level", "warning") as eng:
        manifest = tmp / "pods.yaml"
        manifest.write_text(yaml.safe_dump_all(PODS))
        eng.kubectl("apply", "-f", str(manifest))
        eng.kubectl("wait", "--for=condition=Ready", "pod/shell", "pod/two", "pod/web",
                    "pod/reader", "--timeout=60s")
        eng.kubectl("rollout", "status", "deployment/webdeploy", "--timeout=60s")
        wait_until(lambda: eng.core.read_namespaced_pod("done", NS).status.phase
                   == "Succeeded", what="pod done to succeed")
        yield eng
    # RealEngine.stop has checked that every process it saw (execs included) is gone; the
    # client of the exec left running has lost its stream.
    for proc in _LEFT_RUNNING:
        try:
            assert proc.wait(30) != 0
        finally:
            stop_process(proc)


def kubectl(engine: RealEngine, *args: str, stdin: str | None = None,
            timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(KUBECTL), "--context", "probelab", *args], input=stdin,
                          capture_output=True, text=True, timeout=timeout, env=engine.env)


def pod_ip(engine: RealEngine, name: str) -> str:
    return engine.core.read_namespaced_pod(name, NS).status.pod_ip


# ---- exec ------------------------------------------------------------------------------------
def test_exec_gives_stdout_stderr_and_the_exit_code(engine) -> None:
    result = kubectl(engine, "exec", "shell", "--",
                     "sh", "-c", "echo out; echo err >&2; exit 3")
    assert result.stdout == "out\n"
    assert result.stderr.startswith("err\n")
    assert "command terminated with exit code 3" in result.stderr
    assert result.returncode == 3


def test_exec_sees_the_container_environment(engine) -> None:
    result = kubectl(engine, "exec", "shell", "--",
                     "sh", "-c", 'echo "$POD_IP|$POD_NAME|$GREETING"')
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"{pod_ip(engine, 'shell')}|shell|hello from shell\n"


def test_exec_pipes_stdin_and_its_end(engine) -> None:
    text = "".join(f"line {i}\n" for i in range(2000))
    result = kubectl(engine, "exec", "-i", "shell", "--", "sh", "-c", "cat; echo END",
                     stdin=text)
    assert result.returncode == 0, result.stderr
    assert result.stdout == text + "END\n"


def test_exec_picks_the_default_container_and_honours_c(engine) -> None:
    default = kubectl(engine, "exec", "two", "--", "sh", "-c", "echo $WHO")
    chosen = kubectl(engine, "exec", "two", "-c", "a", "--", "sh", "-c", "echo $WHO")
    assert (default.stdout, chosen.stdout) == ("b\n", "a\n")


def test_exec_of_a_missing_command_is_the_runtime_error(engine) -> None:
    result = kubectl(engine, "exec", "shell", "--", "no-such-command")
    assert result.returncode == 1
    assert ('OCI runtime exec failed: exec failed: unable to start container process: exec: '
            '"no-such-command": executable file not found in $PATH') in result.stderr
    assert "Traceback" not in result.stderr


def test_exec_into_a_completed_pod_is_refused(engine) -> None:
    result = kubectl(engine, "exec", "done", "--", "true")
    assert result.returncode == 1
    assert "cannot exec into a container in a completed pod" in result.stderr


def test_exec_with_a_tty(engine) -> None:
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 33, 111, 0, 0))
    proc = subprocess.Popen([str(KUBECTL), "--context", "probelab", "exec", "-it", "shell",
                             "--", "sh"], stdin=slave, stdout=slave, stderr=slave,
                            env=engine.env, start_new_session=True)
    os.close(slave)
    seen = bytearray()

    def read_some() -> bytes:
        while select.select([master], [], [], 0.05)[0]:
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            seen.extend(chunk)
        return bytes(seen)

    try:
        os.write(master, b"echo $((6*7)); tty; stty size\n")
        wait_until(lambda: b"42" in read_some() and b"33 111" in bytes(seen),
                   what=f"the shell's answers through the tty: {bytes(seen)!r}")
        assert b"/dev/pts/" in seen
        os.write(master, b"exit 5\n")
        assert proc.wait(30) == 5
    finally:
        stop_process(proc)
        os.close(master)


def test_an_exec_dies_when_its_client_goes(engine, tmp_path) -> None:
    out = tmp_path / "out"
    with out.open("w") as f:
        proc = subprocess.Popen([str(KUBECTL), "--context", "probelab", "exec", "shell", "--",
                                 "sh", "-c", "echo $$; exec sleep 600"], stdout=f,
                                stderr=subprocess.STDOUT, env=engine.env,
                                start_new_session=True)
    try:
        pid = int(wait_until(lambda: out.read_text().strip(), what="the exec's pid"))
        assert pid_alive(pid)
    finally:
        stop_process(proc)
    wait_until(lambda: not pid_alive(pid), what=f"the exec'd sleep {pid} to end")


def test_a_background_process_of_an_exec_ends_with_it(engine) -> None:
    result = kubectl(engine, "exec", "shell", "--", "sh", "-c", "sleep 600 & echo $!")
    pid = int(result.stdout)
    wait_until(lambda: not pid_alive(pid), what=f"the exec's background sleep {pid} to end")


def test_an_exec_dies_with_its_pod(engine, tmp_path) -> None:
    manifest = tmp_path / "doomed.yaml"
    manifest.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": "doomed"},
        "spec": {"terminationGracePeriodSeconds": 1, "containers": [{
            "name": "c", "image": "busybox", "command": ["sh", "-c", "exec sleep 3600"]}]}}))
    engine.kubectl("apply", "-f", str(manifest))
    engine.kubectl("wait", "--for=condition=Ready", "pod/doomed", "--timeout=60s")
    out = tmp_path / "out"
    with out.open("w") as f:
        proc = subprocess.Popen([str(KUBECTL), "--context", "probelab", "exec", "doomed", "--",
                                 "sh", "-c", "echo $$; exec sleep 600"], stdout=f,
                                stderr=subprocess.STDOUT, env=engine.env,
                                start_new_session=True)
    try:
        pid = int(wait_until(lambda: out.read_text().split("\n")[0].strip(),
                             what="the exec's pid"))
        engine.kubectl("delete", "pod", "doomed", "--wait=false")
        wait_until(lambda: not pid_alive(pid), what=f"the exec'd sleep {pid} to end")
        assert proc.wait(30) == 137
        assert "command terminated with exit code 137" in out.read_text()
    finally:
        stop_process(proc)


def test_an_exec_running_when_the_engine_stops_is_noted(engine, tmp_path) -> None:
    """Left running on purpose: the module's engine stop must end it (RealEngine.stop
    checks every process it noted)."""
    out = tmp_path / "out"
    with out.open("w") as f:
        proc = subprocess.Popen([str(KUBECTL), "--context", "probelab", "exec", "two", "-c",
                                 "a", "--", "sh", "-c", "echo $$; exec sleep 600"], stdout=f,
                                stderr=subprocess.STDOUT, env=engine.env,
                                start_new_session=True)
    pid = int(wait_until(lambda: out.read_text().strip(), what="the exec's pid"))
    assert pid in engine.note_processes()
    _LEFT_RUNNING.append(proc)


_LEFT_RUNNING: list[subprocess.Popen] = []


# ---- cp ----------------------------------------------------------------------------------------
def test_cp_both_ways(engine, tmp_path) -> None:
    source = tmp_path / "src"
    (source / "sub").mkdir(parents=True)
    (source / "a.txt").write_text("file one\n")
    (source / "sub" / "b.bin").write_bytes(bytes(range(256)) * 300)
    into = tmp_path / "in-pod"  # the pod shares this machine's file system
    result = kubectl(engine, "cp", str(source), f"shell:{into}")
    assert result.returncode == 0, result.stderr
    assert (into / "a.txt").read_text() == "file one\n"
    assert (into / "sub" / "b.bin").read_bytes() == bytes(range(256)) * 300
    back = tmp_path / "back"
    result = kubectl(engine, "cp", f"shell:{into}", str(back))
    assert result.returncode == 0, result.stderr
    assert (back / "sub" / "b.bin").read_bytes() == bytes(range(256)) * 300


# ---- attach ------------------------------------------------------------------------------------
def test_attach_streams_the_output_from_now_on(engine, tmp_path) -> None:
    before = engine.core.read_namespaced_pod_log("shell", NS).splitlines()
    last = int(before[-1].split()[1])
    out = tmp_path / "out"
    with out.open("w") as f:
        proc = subprocess.Popen([str(KUBECTL), "--context", "probelab", "attach", "shell"],
                                stdout=f, stderr=subprocess.DEVNULL, env=engine.env,
                                start_new_session=True)
    try:
        lines = wait_until(lambda: [ln for ln in out.read_text().splitlines()
                                    if ln.startswith("tick ")][:3] if
                           len(out.read_text().splitlines()) >= 3 else None,
                           what="three ticks through attach")
    finally:
        stop_process(proc)
    numbers = [int(line.split()[1]) for line in lines]
    assert numbers == list(range(numbers[0], numbers[0] + 3))
    assert numbers[0] > last - 2  # from about now, not the whole log


def test_attach_with_stdin_reaches_a_container_with_stdin(engine) -> None:
    """`stdin: true` starts the container with a stdin pipe; `stdinOnce` closes it when the
    attached client's input ends, so the container's read loop ends and it exits."""
    result = kubectl(engine, "attach", "-i", "reader", stdin="hello\nworld\n", timeout=60)
    assert "got hello\ngot world\nbye\n" in result.stdout, result.stdout + result.stderr
    wait_until(lambda: engine.core.read_namespaced_pod("reader", NS).status.phase
               == "Succeeded", what="the reader to end once its stdin closed")


# ---- port-forward ------------------------------------------------------------------------------
def _forward(engine: RealEngine, tmp_path: Path, target: str, remote: int):
    local = free_port()
    out = tmp_path / f"pf-{local}"
    f = out.open("w")
    proc = subprocess.Popen([str(KUBECTL), "--context", "probelab", "port-forward", target,
                             f"{local}:{remote}"], stdout=f, stderr=subprocess.STDOUT,
                            env=engine.env, start_new_session=True)
    f.close()
    wait_until(lambda: "Forwarding from 127.0.0.1" in out.read_text() or proc.poll() is not None,
               what="kubectl port-forward to listen")
    assert proc.poll() is None, out.read_text()
    return proc, local, out


def _get(port: int) -> tuple[int, str]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        conn.request("GET", "/")
        response = conn.getresponse()
        return response.status, response.read().decode()
    finally:
        conn.close()


@pytest.mark.parametrize("target,remote,pod", [("pod/web", 8080, "web"),
                                               ("svc/web", 80, "web"),
                                               ("deploy/webdeploy", 8080, "webdeploy-")])
def test_port_forward_reaches_the_pod(engine, tmp_path, target, remote, pod) -> None:
    proc, local, _ = _forward(engine, tmp_path, target, remote)
    try:
        status, body = _get(local)
        assert status == 200 and f"Pod:             {pod}" in body, body
    finally:
        stop_process(proc)


def test_port_forward_carries_two_connections_at_once(engine, tmp_path) -> None:
    proc, local, out = _forward(engine, tmp_path, "pod/web", 8080)
    try:
        first = http.client.HTTPConnection("127.0.0.1", local, timeout=20)
        second = http.client.HTTPConnection("127.0.0.1", local, timeout=20)
        first.request("GET", "/")
        second.request("GET", "/")  # both in flight through the one tunnel
        answers = [c.getresponse() for c in (second, first)]
        assert [a.status for a in answers] == [200, 200]
        assert all("Pod:             web" in a.read().decode() for a in answers)
        first.close()
        second.close()
        wait_until(lambda: out.read_text().count("Handling connection") == 2,
                   what="two forwarded connections")
    finally:
        stop_process(proc)


def test_port_forward_to_a_closed_port_reports_the_error(engine, tmp_path) -> None:
    proc, local, out = _forward(engine, tmp_path, "pod/web", 9)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", local, timeout=20)
        with pytest.raises((http.client.RemoteDisconnected, ConnectionError)):
            conn.request("GET", "/")
            conn.getresponse()
        assert proc.wait(30) == 1
        text = out.read_text()
        assert ("error forwarding port 9 to pod" in text
                and f"dial tcp4 {pod_ip(engine, 'web')}:9: connect: connection refused"
                in text), text
    finally:
        stop_process(proc)


# ---- the official client ---------------------------------------------------------------------
def collect_client_sockets() -> None:
    """websocket-client leaves the socket of a refused handshake, and of a stream the server
    closed, to the garbage collector: collect them here, not in a later test."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


def test_official_client_exec(engine) -> None:
    resp = stream(engine.core.connect_get_namespaced_pod_exec, "shell", NS,
                  command=["sh", "-c", "echo hi; echo oops >&2; exit 4"], stderr=True,
                  stdin=False, stdout=True, tty=False, _preload_content=False)
    try:
        resp.run_forever(timeout=20)
        assert (resp.read_stdout(), resp.read_stderr(), resp.returncode) == ("hi\n", "oops\n",
                                                                             4)
    finally:
        resp.close()
    piped = stream(engine.core.connect_get_namespaced_pod_exec, "shell", NS, command=["cat"],
                   stdin=True, stdout=True, stderr=True, tty=False, _preload_content=False)
    try:
        piped.write_stdin("piped\n")
        assert piped.readline_stdout(timeout=20) == "piped"
    finally:
        piped.close()
    assert stream(engine.core.connect_get_namespaced_pod_exec, "shell", NS,
                  command=["sh", "-c", "echo $POD_NAME"], stderr=True, stdin=False,
                  stdout=True, tty=False) == "shell\n"
    collect_client_sockets()


def test_official_client_port_forward(engine) -> None:
    forward = portforward(engine.core.connect_get_namespaced_pod_portforward, "web", NS,
                          ports="8080")
    sock = forward.socket(8080)
    sock.setblocking(True)
    sock.settimeout(20)
    sock.sendall(b"GET / HTTP/1.0\r\nHost: web\r\n\r\n")
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    sock.close()
    assert data.startswith(b"HTTP/1.1 200 OK") and b"Pod:             web" in data
    assert forward.error(8080) is None
    refused = portforward(engine.core.connect_get_namespaced_pod_portforward, "web", NS,
                          ports="9")
    sock = refused.socket(9)
    sock.setblocking(True)
    sock.settimeout(20)
    try:
        assert sock.recv(10) == b""
        assert "connect: connection refused" in refused.error(9)
    finally:
        sock.close()
        collect_client_sockets()


@pytest.mark.parametrize("name,container,command,code,message", [
    ("nope", "", ["true"], 404, 'pods \\"nope\\" not found'),
    ("two", "", ["true"], 400, "a container name must be specified for pod two, choose one "
                               "of: [a b]"),
    ("shell", "bogus", ["true"], 400, "container bogus is not valid for pod shell"),
    ("shell", "", [], 400, "you must specify at least one command for the container"),
    ("done", "", ["true"], 500, 'container not found ("c")'),
])
def test_bad_exec_requests_get_status_errors(engine, name, container, command, code,
                                             message) -> None:
    kwargs = {"container": container} if container else {}
    with pytest.raises(ApiException) as caught:
        stream(engine.core.connect_get_namespaced_pod_exec, name, NS, command=command,
               stderr=True, stdin=False, stdout=True, tty=False, **kwargs)
    assert f"{code} " in caught.value.reason and message in caught.value.reason
    collect_client_sockets()


def test_streams_need_the_token(engine) -> None:
    ws = WsClient(engine.url(), "/api/v1/namespaces/default/pods/shell/exec?command=true",
                  "wrong", engine.ca_pem(), ["v5.channel.k8s.io"])
    try:
        assert ws.handshake.status == 401
    finally:
        ws.close()



# ---- WebSocket framing, as raw frames (RFC 6455) ---------------------------------------------
def raw_ws(engine: RealEngine, path: str, protocols: list[str] | None) -> WsClient:
    return WsClient(engine.url(), path, engine.token(), engine.ca_pem(), protocols)


EXEC_CAT = "/api/v1/namespaces/default/pods/shell/exec?command=cat&stdin=true&stdout=true"


def test_fragmented_masked_stdin_then_v5_close_then_status(engine) -> None:
    ws = raw_ws(engine, EXEC_CAT, ["v5.channel.k8s.io"])
    try:
        assert (ws.handshake.status, ws.protocol) == (101, "v5.channel.k8s.io")
        assert ws.recv_message() == (BINARY, b"\x01")  # the stream is up: empty stdout
        # One stdin message in three fragments (the last a continuation with FIN).
        ws.send_raw(encode_frame(BINARY, b"\x00hel", fin=False)
                    + encode_frame(CONT, b"lo ", fin=False) + encode_frame(CONT, b"world\n"))
        received = b""
        while received != b"hello world\n":
            kind, data = ws.recv_message()
            assert kind == BINARY and data[:1] == b"\x01", data
            received += data[1:]
        ws.send(BINARY, b"\xff\x00")  # v5: stdin is closed
        kind, data = ws.recv_message()
        assert (kind, json.loads(data[1:])) == (BINARY, {"metadata": {}, "status": "Success"})
        assert data[0] == 3
        kind, _ = ws.recv_message()
        assert kind == CLOSE
    finally:
        ws.close()


def test_a_close_frame_from_the_client_ends_the_exec(engine) -> None:
    ws = raw_ws(engine, "/api/v1/namespaces/default/pods/shell/exec?command=sh&command=-c"
                        "&command=echo+%24%24%3B+exec+sleep+600", ["v5.channel.k8s.io"])
    try:
        assert ws.recv_message() == (BINARY, b"\x01")
        kind, data = ws.recv_message()
        pid = int(data[1:])
        assert pid_alive(pid)
        ws.send(CLOSE, struct.pack(">H", 1000))
        kind, data = ws.recv_message()
        assert kind == CLOSE  # the server answers the close
    finally:
        ws.close()
    wait_until(lambda: not pid_alive(pid), what=f"the exec'd sleep {pid} to end")


def test_v4_is_served_to_a_client_that_offers_only_it(engine) -> None:
    ws = raw_ws(engine, "/api/v1/namespaces/default/pods/shell/exec?command=sh&command=-c"
                        "&command=exit+7", ["v4.channel.k8s.io"])
    try:
        assert ws.protocol == "v4.channel.k8s.io"
        messages = []
        while (message := ws.recv_message())[0] != CLOSE:
            messages.append(message[1])
        status = json.loads(messages[-1][1:])
        assert status["details"]["causes"] == [{"reason": "ExitCode", "message": "7"}]
    finally:
        ws.close()


def test_no_common_protocol_is_a_400_status(engine) -> None:
    ws = raw_ws(engine, EXEC_CAT, ["base64.channel.k8s.io"])
    try:
        assert ws.handshake.status == 400
        status = json.loads(ws.handshake.body)
        assert status["kind"] == "Status" and "not supported" in status["message"]
    finally:
        ws.close()


def test_spdy_tunnel_answers_ping_and_refuses_a_stream_without_port(engine) -> None:
    ws = raw_ws(engine, "/api/v1/namespaces/default/pods/web/portforward",
                ["SPDY/3.1+portforward.k8s.io"])
    codec = spdy.Codec()
    reader = spdy.Reader(spdy.Codec())
    try:
        assert ws.protocol == "SPDY/3.1+portforward.k8s.io"
        ws.send(BINARY, spdy.ping(41))
        ws.send(BINARY, spdy.syn_stream(codec, 1, {"streamType": "data", "requestID": "1"}))
        frames: list[spdy.Frame] = []
        while len(frames) < 2:
            kind, data = ws.recv_message()
            assert kind == BINARY
            frames += reader.feed(data)
        assert (frames[0].type, frames[0].ping_id) == (spdy.PING, 41)
        assert (frames[1].type, frames[1].stream_id, frames[1].status) == (
            spdy.RST_STREAM, 1, spdy.REFUSED_STREAM)
    finally:
        ws.close()


def test_spdy_does_not_take_the_connection_down_on_garbage(engine) -> None:
    ws = raw_ws(engine, "/api/v1/namespaces/default/pods/web/portforward",
                ["SPDY/3.1+portforward.k8s.io"])
    try:
        ws.send(BINARY, b"\x80\x02\x00\x01" + b"\x00" * 60)  # SPDY/2: refused with GOAWAY
        kind, data = ws.recv_message()
        assert kind == BINARY
        frames = spdy.Reader(spdy.Codec()).feed(data)
        assert [f.type for f in frames] == [spdy.GOAWAY]
        assert ws.recv_message()[0] == CLOSE
    finally:
        ws.close()
    assert kubectl(engine, "exec", "shell", "--", "true").returncode == 0  # still serving


def test_a_client_that_vanishes_while_output_floods_ends_the_exec(engine) -> None:
    """`yes` fills every buffer between the process and the client; the client's socket is
    then cut without a close frame: the exec must still end."""
    ws = raw_ws(engine, "/api/v1/namespaces/default/pods/shell/exec?command=sh&command=-c"
                        "&command=echo+%24%24%3B+exec+yes", ["v5.channel.k8s.io"])
    try:
        assert ws.recv_message() == (BINARY, b"\x01")
        kind, data = ws.recv_message()
        assert kind == BINARY
        pid = int(data[1:].split(b"\n")[0])
        assert pid_alive(pid)
    finally:
        ws.close()  # no close frame
    wait_until(lambda: not pid_alive(pid), what=f"the flooding exec {pid} to end")
