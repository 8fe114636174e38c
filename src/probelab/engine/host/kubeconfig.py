"""The kubeconfig context `probelab`: merged in when the engine is up, removed when it stops.

Modelled on what kind does with its own context: a cluster, a user and a context entry, all
named after the engine, are added (or replaced) in an existing kubeconfig, `current-context` is
switched to it, and every other entry is left exactly as it was. The merge and removal are pure
functions on the parsed document; `load`/`save` are the only I/O (save is atomic and 0600,
because the file holds the bearer token). Used by `probelab.commands.cluster`.
"""

from __future__ import annotations

import base64
import contextlib
import copy
import os
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

from probelab.errors import UsageError

CONTEXT = "probelab"
SECTIONS = ("clusters", "users", "contexts")
FILE_MODE = 0o600
LOCK_WAIT_S = 5.0


def default_path(explicit: Path | None, env: Mapping[str, str], home: Path) -> Path:
    """`--kubeconfig`, else the first path of `$KUBECONFIG`, else `~/.kube/config`."""
    if explicit is not None:
        return explicit.expanduser()
    for part in env.get("KUBECONFIG", "").split(os.pathsep):
        if part.strip():
            return Path(part.strip()).expanduser()
    return home / ".kube" / "config"


def empty() -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Config", "preferences": {},
            "clusters": [], "users": [], "contexts": [], "current-context": ""}


def _named(doc: Mapping[str, Any], section: str, name: str) -> dict[str, Any] | None:
    for entry in doc.get(section) or []:
        if isinstance(entry, dict) and entry.get("name") == name:
            return entry
    return None


def server_of(doc: Mapping[str, Any], name: str = CONTEXT) -> str | None:
    """The server URL of cluster `name`, or None when the document has no such cluster."""
    entry = _named(doc, "clusters", name)
    if entry is None:
        return None
    return str((entry.get("cluster") or {}).get("server") or "")


def has_context(doc: Mapping[str, Any], name: str = CONTEXT) -> bool:
    return _named(doc, "contexts", name) is not None


def merge(doc: Mapping[str, Any], server: str, token: str, ca_pem: bytes = b"",
          name: str = CONTEXT) -> dict[str, Any]:
    """A copy of `doc` with cluster, user and context `name` set (replaced if present) and
    current; entries with other names keep their content and order. `ca_pem` is the
    certificate that signs the server's (the engine makes a self-signed one per run)."""
    out = copy.deepcopy(dict(doc)) if doc else empty()
    out.setdefault("apiVersion", "v1")
    out.setdefault("kind", "Config")
    cluster: dict[str, Any] = {"server": server}
    if ca_pem:
        cluster["certificate-authority-data"] = base64.b64encode(ca_pem).decode()
    entries = {
        "clusters": {"name": name, "cluster": cluster},
        "users": {"name": name, "user": {"token": token}},
        "contexts": {"name": name, "context": {"cluster": name, "user": name}},
    }
    for section, entry in entries.items():
        items = [e for e in (out.get(section) or []) if isinstance(e, dict)]
        index = next((i for i, e in enumerate(items) if e.get("name") == name), None)
        if index is None:
            items.append(entry)
        else:
            items[index] = entry
        out[section] = items
    out["current-context"] = name
    return out


def remove(doc: Mapping[str, Any], server: str | None, previous_context: str | None = None,
           name: str = CONTEXT) -> dict[str, Any]:
    """A copy of `doc` without the entries named `name`.

    When `server` is given, nothing is removed unless cluster `name` still points at it, so an
    engine never deletes a context a newer engine wrote. If `name` was the current context, the
    one that was current before the engine started comes back when it still exists (else none
    is current, as kind leaves it).
    """
    out = copy.deepcopy(dict(doc))
    if server is not None and server_of(out, name) not in (server, None):
        return out
    for section in SECTIONS:
        if section in out and out[section] is not None:
            out[section] = [e for e in out[section]
                            if not (isinstance(e, dict) and e.get("name") == name)]
    if out.get("current-context") == name:
        back = previous_context if previous_context and has_context(out, previous_context) else ""
        out["current-context"] = back
    return out


def load(path: Path) -> dict[str, Any]:
    """The parsed kubeconfig; a missing or empty file is an empty config."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return empty()
    except OSError as exc:
        raise UsageError(f"cannot read kubeconfig {path}: {exc.strerror or exc}") from None
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        line = f" (line {where.line + 1})" if where is not None else ""
        raise UsageError(f"kubeconfig {path} is not valid YAML{line}") from None
    if doc is None:
        return empty()
    if not isinstance(doc, dict):
        raise UsageError(f"kubeconfig {path} is not a kubeconfig (top level is not a mapping)")
    for section in SECTIONS:
        if not isinstance(doc.get(section) or [], list):
            raise UsageError(f"kubeconfig {path}: {section} must be a list")
    return doc


def save(path: Path, doc: Mapping[str, Any]) -> None:
    """Write atomically (temp file + rename in the same folder) with mode 0600, so a reader
    such as kubectl never sees half a file and nobody else can read the token."""
    target = path.resolve() if path.is_symlink() else path
    text = yaml.safe_dump(dict(doc), default_flow_style=False, sort_keys=False)
    try:
        target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    except OSError as exc:
        raise UsageError(f"cannot write kubeconfig {path}: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "w") as f:
            os.fchmod(f.fileno(), FILE_MODE)
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise UsageError(f"cannot write kubeconfig {path}: {exc.strerror or exc}") from None
        raise


@contextlib.contextmanager
def locked(path: Path, wait_s: float = LOCK_WAIT_S) -> Iterator[None]:
    """Hold `PATH.lock`, the lock file kubectl and kind take while they change a kubeconfig
    (created exclusively, removed afterwards), so neither overwrites the other's change."""
    lock = path.with_name(path.name + ".lock")
    deadline = time.monotonic() + wait_s
    while True:
        try:
            lock.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
            os.close(os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, FILE_MODE))
            break
        except FileExistsError:
            if time.monotonic() >= deadline:
                raise UsageError(f"kubeconfig {path} is locked by {lock}; remove that file if "
                                 "no kubectl is running") from None
            time.sleep(0.05)
        except OSError as exc:
            raise UsageError(f"cannot write kubeconfig {path}: {exc.strerror or exc}") from None
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            lock.unlink()


def update(path: Path, change: Callable[[dict[str, Any]], dict[str, Any] | None]) -> None:
    """Read, change and write the kubeconfig under its lock; `change` returning None (or the
    document unchanged) writes nothing."""
    with locked(path):
        doc = load(path)
        new = change(copy.deepcopy(doc))
        if new is not None and new != doc:
            save(path, new)
