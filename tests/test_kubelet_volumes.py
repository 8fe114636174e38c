"""A pod's volumes (engine/kubelet/volumes/): what each kind holds (layout, table tests), the
atomic writer's folder layout and switch (writer), the mount plan (pure) and, where this
machine allows it (root), a real mount namespace: the file at its mountPath, read-only, the
host left unchanged."""

from __future__ import annotations

import base64
import os
import subprocess
from pathlib import Path

import pytest

from probelab.engine.kubelet.envsources import Allocatable, Sources
from probelab.engine.kubelet.volumes import layout, mounts, writer
from probelab.engine.kubelet.volumes.layout import File, MountError, Unsupported, payload
from probelab.engine.kubelet.volumes.manager import PodVolumes

POD = {"metadata": {"name": "web-1", "namespace": "ns", "uid": "u-1",
                    "labels": {"b": "2", "a": "1"}},
       "spec": {"containers": [{"name": "main",
                                "resources": {"limits": {"memory": "64Mi"}}}]}}
CM = {"kind": "ConfigMap", "data": {"app.yaml": "v: 1", "other": "o"},
      "binaryData": {"bin": base64.b64encode(b"\x00\x01").decode()}}
SECRET = {"kind": "Secret", "data": {"pw": base64.b64encode(b"s3cret").decode()}}
SOURCES = Sources({"cfg": CM}, {"sec": SECRET}, Allocatable(2000, 2**30, 2**34))


def files(volume: dict) -> dict[str, tuple[bytes, int]]:
    out = payload(volume, POD, SOURCES, "127.244.0.7", "127.0.0.1")
    return {path: (f.data, f.mode) for path, f in out.files.items()}


@pytest.mark.parametrize(("volume", "expected"), [
    ({"configMap": {"name": "cfg"}},
     {"app.yaml": (b"v: 1", 0o644), "other": (b"o", 0o644), "bin": (b"\x00\x01", 0o644)}),
    ({"configMap": {"name": "cfg", "defaultMode": 0o400,
                    "items": [{"key": "app.yaml", "path": "conf/app.yaml"},
                              {"key": "other", "path": "o.txt", "mode": 0o600}]}},
     {"conf/app.yaml": (b"v: 1", 0o400), "o.txt": (b"o", 0o600)}),
    ({"secret": {"secretName": "sec"}}, {"pw": (b"s3cret", 0o644)}),
    ({"configMap": {"name": "missing", "optional": True}}, {}),
    ({"configMap": {"name": "cfg", "optional": True, "items": [{"key": "nope", "path": "x"}]}},
     {}),
    ({"downwardAPI": {"items": [
        {"path": "name", "fieldRef": {"fieldPath": "metadata.name"}},
        {"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}},
        {"path": "mem", "resourceFieldRef": {"containerName": "main",
                                             "resource": "limits.memory", "divisor": "1Mi"}}]}},
     {"name": (b"web-1", 0o644), "labels": (b'a="1"\nb="2"', 0o644), "mem": (b"64", 0o644)}),
    ({"projected": {"defaultMode": 0o440, "sources": [
        {"configMap": {"name": "cfg", "items": [{"key": "other", "path": "other"}]}},
        {"secret": {"name": "sec"}},
        {"downwardAPI": {"items": [{"path": "ns", "fieldRef":
                                    {"fieldPath": "metadata.namespace"}}]}},
        {"serviceAccountToken": {"path": "token"}}]}},
     {"other": (b"o", 0o440), "pw": (b"s3cret", 0o440), "ns": (b"ns", 0o440)}),
])
def test_payload(volume: dict, expected: dict) -> None:
    assert files({"name": "v", **volume}) == expected


def test_a_service_account_token_is_not_written_and_says_so() -> None:
    out = payload({"name": "v", "projected": {"sources": [
        {"serviceAccountToken": {"path": "token"}}]}}, POD, SOURCES, "", "")
    assert out.files == {} and "token" in out.warnings[0]


@pytest.mark.parametrize(("volume", "message"), [
    ({"configMap": {"name": "missing"}}, 'configmap "missing" not found'),
    ({"secret": {"secretName": "missing"}}, 'secret "missing" not found'),
    ({"configMap": {"name": "cfg", "items": [{"key": "nope", "path": "x"}]}},
     "configmap references non-existent config key: nope"),
    ({"secret": {"secretName": "sec", "items": [{"key": "nope", "path": "x"}]}},
     "secret references non-existent secret key: nope"),
    ({"configMap": {"name": "cfg", "items": [{"key": "other", "path": "../escape"}]}},
     "invalid path '../escape': path must not contain '..'"),
])
def test_a_volume_that_cannot_be_set_up_says_why(volume: dict, message: str) -> None:
    with pytest.raises(MountError) as err:
        files({"name": "v", **volume})
    assert str(err.value) == message


@pytest.mark.parametrize("kind", ["hostPath", "persistentVolumeClaim", "nfs", "csi"])
def test_kinds_the_engine_cannot_give_are_unsupported(kind: str) -> None:
    with pytest.raises(Unsupported, match=kind):
        files({"name": "v", kind: {"path": "/x"}})


# ---- the atomic writer ------------------------------------------------------------------------
def test_the_writer_layout_and_its_atomic_switch(tmp_path: Path) -> None:
    target = tmp_path / "v"
    first = {"app.yaml": File(b"v: 1", 0o644), "conf/x": File(b"x", 0o600)}
    assert writer.write(target, first) is True
    data = os.readlink(target / "..data")
    assert data.startswith("..") and (target / data).is_dir()
    assert os.readlink(target / "app.yaml") == "..data/app.yaml"
    assert os.readlink(target / "conf") == "..data/conf"
    assert (target / "app.yaml").read_text() == "v: 1"
    assert (target / "conf" / "x").stat().st_mode & 0o777 == 0o600
    assert writer.write(target, first) is False  # unchanged: nothing written
    assert os.readlink(target / "..data") == data
    second = {"app.yaml": File(b"v: 2", 0o644), "new": File(b"n", 0o644)}
    assert writer.write(target, second) is True
    assert (target / "app.yaml").read_text() == "v: 2"
    assert not (target / "conf").is_symlink() and (target / "new").read_text() == "n"
    assert not (target / data).exists()  # the old version is gone
    assert sorted(p.name for p in target.iterdir() if p.name.startswith("..")) == [
        os.readlink(target / "..data"), "..data"]


def test_plan_links() -> None:
    assert writer.plan_links({"a", "b"}, {"b", "c"}) == ({"a"}, {"c"})
    assert writer.top_level(["a/b/c", "a/d", "e"]) == {"a", "e"}


# ---- the mount plan ---------------------------------------------------------------------------
HOST = {"/", "/etc", "/etc/nginx", "/tmp", "/srv", "/srv/data", "/vol/a", "/vol/f", "/proc",
        "/dev", "/dev/pts", "/mnt", "/mnt/disk"}
POINTS = ["/", "/proc", "/dev", "/dev/pts", "/mnt/disk"]


def plan(*ms: mounts.Mount) -> list[str]:
    return mounts.plan(ms, "/s", lambda p: p in HOST, lambda p: p in HOST, POINTS)


def test_existing_mount_paths_are_bound_in_place() -> None:
    lines = plan(mounts.Mount("/vol/a", "/etc/nginx", True))
    assert lines[3:] == ["mount --bind /vol/a /etc/nginx",
                         "mount -o remount,bind,ro /etc/nginx", 'exec "$@"']


def test_a_missing_mount_path_gets_a_root_of_its_own() -> None:
    lines = plan(mounts.Mount("/vol/a", "/etc/app", False),
                 mounts.Mount("/vol/f", "/app/one.yaml", True, is_file=True))
    text = "\n".join(lines)
    assert "mount -t overlay probelab-mounts -o lowerdir=/," in text
    # the host's other mounts come back, nested ones with their parents
    assert "mount --rbind /proc /s/root/proc" in lines
    assert "mount --rbind /dev /s/root/dev" in lines
    assert not any("/dev/pts" in line for line in lines)
    assert "mkdir -p /s/root/etc/app" in lines
    assert ": > /s/root/app/one.yaml" in lines
    assert lines.index("mkdir -p /s/root/etc/app") < lines.index(
        "mount --bind /vol/a /s/root/etc/app")
    assert "mount -o remount,bind,ro /s/root/app/one.yaml" in lines
    assert lines[-1].startswith("exec ") and "chroot" in lines[-1] and " /s/root " in lines[-1]


def test_a_missing_path_inside_another_mount_overlays_that_mount() -> None:
    text = "\n".join(plan(mounts.Mount("/vol/a", "/mnt/disk/new", False)))
    assert "lowerdir=/mnt/disk,upperdir=/s/up/0,workdir=/s/work/0 /s/root/mnt/disk" in text


@pytest.mark.parametrize("target", ["relative/x", "/a,b", "/a:b"])
def test_mount_paths_the_plan_refuses(target: str) -> None:
    with pytest.raises(mounts.PlanError):
        plan(mounts.Mount("/vol/a", target, False))


def test_mount_points_decodes_mountinfo() -> None:
    info = ("22 1 8:1 / / rw - ext4 /dev/vda rw\n"
            "23 22 0:5 / /mnt/my\\040disk rw - tmpfs tmpfs rw\n")
    assert mounts.mount_points(info) == ["/", "/mnt/my disk"]


# ---- a real mount namespace (root only) ---------------------------------------------------------
needs_mounts = pytest.mark.skipif(mounts.available() is not None,
                                  reason=f"no mount namespaces here: {mounts.available()}")


@needs_mounts
def test_a_process_sees_its_volumes_at_their_mount_paths_and_the_host_does_not(
        tmp_path: Path) -> None:
    volumes = PodVolumes(tmp_path, "uid-1")
    pod = {**POD, "spec": {**POD["spec"], "volumes": [
        {"name": "conf", "configMap": {"name": "cfg"}}, {"name": "cache", "emptyDir": {}}]}}
    result = volumes.sync(pod, SOURCES, "127.244.0.7", "127.0.0.1")
    assert result.errors == {} and result.unsupported == {}
    target = f"/probelab-test-{os.getpid()}/etc/app"  # exists nowhere on the host
    container = {"volumeMounts": [
        {"name": "conf", "mountPath": target},
        {"name": "conf", "mountPath": "/probelab-sub.yaml", "subPath": "app.yaml"},
        {"name": "cache", "mountPath": f"/probelab-test-{os.getpid()}/cache"}]}
    bound = volumes.mounts_for(container, {})
    argv = mounts.wrap(bound, volumes.scratch("main"), [
        "sh", "-c", f"cat {target}/app.yaml; echo; cat /probelab-sub.yaml; echo; pwd; "
        f"touch {target}/x 2>/dev/null && echo writable || echo read-only; "
        f"echo hi > /probelab-test-{os.getpid()}/cache/f"], str(tmp_path))
    done = subprocess.run(argv, capture_output=True, text=True, cwd=tmp_path, timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["v: 1", "v: 1", str(tmp_path), "read-only"]
    assert not Path(f"/probelab-test-{os.getpid()}").exists()  # the host is unchanged
    assert not Path("/probelab-sub.yaml").exists()
    assert (volumes.path("cache") / "f").read_text() == "hi\n"  # emptyDir is shared
    mountinfo = Path("/proc/self/mountinfo").read_text()
    assert str(tmp_path) not in mountinfo  # nothing mounted in the host's namespace
    volumes.remove()
    assert not volumes.root.exists()


@needs_mounts
def test_a_config_map_update_reaches_a_running_process_but_not_a_sub_path(
        tmp_path: Path) -> None:
    volumes = PodVolumes(tmp_path, "uid-2")
    pod = {**POD, "spec": {**POD["spec"], "volumes": [
        {"name": "conf", "configMap": {"name": "cfg"}}]}}
    volumes.sync(pod, SOURCES, "", "")
    bound = volumes.mounts_for({"volumeMounts": [
        {"name": "conf", "mountPath": "/probelab-vol-test"},
        {"name": "conf", "mountPath": "/probelab-vol-test.yaml", "subPath": "app.yaml"}]}, {})
    proc = subprocess.Popen(mounts.wrap(bound, volumes.scratch("main"), [
        "sh", "-c", "echo mounted; read line; cat /probelab-vol-test/app.yaml; echo; "
                    "cat /probelab-vol-test.yaml"], None),
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "mounted\n"
        updated = Sources({"cfg": {**CM, "data": {**CM["data"], "app.yaml": "v: 2"}}})
        assert volumes.sync(pod, updated, "", "").changed == ["conf"]
        out, _ = proc.communicate("go\n", timeout=30)
    finally:
        proc.kill()
        proc.wait()
    assert out.splitlines() == ["v: 2", "v: 1"]
    assert layout.kind_of({"name": "x"}) == "emptyDir"


# ---- without mount namespaces: the fallback -----------------------------------------------------
class _Recorder:
    """Stands in for the kubelet's node: records the Events `setup` asks for."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str, bool]] = []

    def event(self, pod: dict, reason: str, message: str, *, warning: bool = False,
              container: str | None = None, repeat: bool = False) -> None:
        self.events.append((reason, message, warning))


def test_without_mount_namespaces_the_folder_is_announced_and_in_the_env(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from probelab.engine.kubelet.volumes import setup

    monkeypatch.setattr(mounts, "available", lambda: "the engine does not run as root")
    volumes = PodVolumes(tmp_path, "uid-3")
    pod = {**POD, "spec": {**POD["spec"], "volumes": [
        {"name": "app-config", "configMap": {"name": "cfg"}}]}}
    volumes.sync(pod, SOURCES, "", "")

    class Pod:
        namespace, name, uid, pod_ip = "ns", "web-1", "uid-3", ""

    handle = Pod()
    handle.pod, handle.volumes = pod, volumes  # type: ignore[attr-defined]
    node = _Recorder()
    wrap, env = setup.for_container(handle, node, {"name": "main", "volumeMounts": [  # type: ignore[arg-type]
        {"name": "app-config", "mountPath": "/etc/app"}]}, {}, None)
    assert wrap is None
    assert env == {"PROBELAB_VOLUME_APP_CONFIG": str(volumes.path("app-config"))}
    assert Path(env["PROBELAB_VOLUME_APP_CONFIG"], "app.yaml").read_text() == "v: 1"
    [(reason, message, warning)] = node.events
    assert (reason, warning) == ("VolumeNotMounted", True)
    assert message == (f'volume "app-config" is at {volumes.path("app-config")}, not mounted at '
                       "/etc/app (the engine does not run as root); "
                       "$PROBELAB_VOLUME_APP_CONFIG holds the folder")


@needs_mounts
def test_exec_commands_enter_the_running_containers_namespace(tmp_path: Path) -> None:
    volumes = PodVolumes(tmp_path, "uid-4")
    pod = {**POD, "spec": {**POD["spec"], "volumes": [
        {"name": "conf", "configMap": {"name": "cfg"}}]}}
    volumes.sync(pod, SOURCES, "", "")
    bound = volumes.mounts_for({"volumeMounts": [
        {"name": "conf", "mountPath": f"/probelab-enter-{os.getpid()}/app"}]}, {})
    main = subprocess.Popen(mounts.wrap(bound, volumes.scratch("main"), [
        "sh", "-c", "echo up; exec sleep 60"], str(tmp_path)), stdout=subprocess.PIPE, text=True)
    try:
        assert main.stdout is not None and main.stdout.readline() == "up\n"
        enter = mounts.enter(main.pid, str(tmp_path))
        if enter is None:
            pytest.skip("no nsenter")
        done = subprocess.run(enter(["sh", "-c", f"pwd; cat /probelab-enter-{os.getpid()}"
                                                 "/app/app.yaml"]),
                              capture_output=True, text=True, timeout=30)
    finally:
        main.kill()
        main.wait()
        if main.stdout is not None:
            main.stdout.close()
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [str(tmp_path), "v: 1"]
    assert done.stderr == ""  # the working folder is valid before the cd (nsenter --wd)
