"""`probelab service url NAME -n NS`: where to reach a Service, like `minikube service --url`.

Reads the Service through the official `kubernetes` client (so it works on any kubeconfig
context) and prints one `http://HOST:PORT` line per port: the node port on the API server's
host for NodePort/LoadBalancer Services (on the local engine that is 127.0.0.1, as on minikube
it is the node's address), or the ClusterIP when it is a loopback address the local engine
listens on. `service_urls()` is the pure rule.
"""

from __future__ import annotations

import ipaddress
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import click

from probelab.engine.host import kubeconfig
from probelab.errors import RuntimeFailure, UsageError

NODE_PORT_TYPES = frozenset({"NodePort", "LoadBalancer"})


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def service_urls(service: Mapping[str, Any], api_server: str) -> list[str]:
    """The URLs that reach `service` from this machine; UsageError when there are none."""
    meta = service.get("metadata") or {}
    spec = service.get("spec") or {}
    name = f'{meta.get("namespace", "")}/{meta.get("name", "")}'
    kind = spec.get("type") or "ClusterIP"
    ports = [p for p in spec.get("ports") or [] if isinstance(p, dict)]
    if not ports:
        raise UsageError(f"service {name} has no ports")
    if kind in NODE_PORT_TYPES:
        host = urlsplit(api_server).hostname or "127.0.0.1"
        if ":" in host:
            host = f"[{host}]"
        urls = [f"http://{host}:{p['nodePort']}" for p in ports if p.get("nodePort")]
        if urls:
            return urls
        raise UsageError(f"service {name} has no node port yet")
    cluster_ip = spec.get("clusterIP") or ""
    if kind == "ClusterIP" and _is_loopback(cluster_ip):
        return [f"http://{cluster_ip}:{p['port']}" for p in ports if p.get("port")]
    raise UsageError(f"service {name} is of type {kind} without a node port, so it cannot be "
                     "reached from outside the cluster (use type NodePort, or kubectl "
                     "port-forward)")


def _check_context(kubeconfig_path: str | None, context: str | None) -> None:
    """A plain message for the usual mistake (no engine up, so no context), before the client
    reports it in its own words. Only for a single file: several files are merged."""
    env_paths = [p for p in os.environ.get("KUBECONFIG", "").split(os.pathsep) if p]
    if kubeconfig_path is None and len(env_paths) > 1:
        return
    path = kubeconfig.default_path(Path(kubeconfig_path) if kubeconfig_path else None,
                                   os.environ, Path.home())
    if not path.exists():
        raise UsageError(f"kubeconfig {path} does not exist (is `probelab cluster up` running?)")
    doc = kubeconfig.load(path)
    if context is not None and not kubeconfig.has_context(doc, context):
        raise UsageError(f'kubeconfig {path} has no context "{context}"')
    if context is None and not doc.get("current-context"):
        raise UsageError(f"kubeconfig {path} has no current context; pass --context "
                         "(is `probelab cluster up` running?)")


def _read_service(name: str, namespace: str, kubeconfig_path: str | None,
                  context: str | None) -> tuple[dict[str, Any], str]:
    from kubernetes import client, config
    from kubernetes.client.rest import ApiException

    _check_context(kubeconfig_path, context)
    try:
        api = config.new_client_from_config(config_file=kubeconfig_path, context=context)
    except config.ConfigException as exc:
        raise UsageError(f"kubeconfig: {exc}") from None
    except FileNotFoundError as exc:
        raise UsageError(f"kubeconfig not found: {exc.filename}") from None
    api.configuration.retries = 0  # one clear error instead of urllib3's retry warnings
    server = api.configuration.host
    try:
        response = client.CoreV1Api(api).read_namespaced_service(
            name, namespace, _preload_content=False, _request_timeout=10)
        return json.loads(response.data), server
    except ApiException as exc:
        if exc.status == 404:
            raise UsageError(f'service "{name}" not found in namespace "{namespace}"') from None
        if exc.status == 401:
            raise RuntimeFailure(f"the API server at {server} rejected the credentials "
                                 "(401 Unauthorized); is the kubeconfig context stale?") from None
        raise RuntimeFailure(f"reading service {namespace}/{name} failed: "
                             f"{exc.status} {exc.reason}") from None
    except Exception as exc:  # urllib3's connection errors vary; the address is what matters
        raise RuntimeFailure(f"cannot reach the API server at {server} "
                             f"({type(exc).__name__}); is the cluster running?") from None
    finally:
        api.close()


@click.group(name="service")
def command() -> None:
    """Find services of the local engine (or of any cluster), like `minikube service`."""


@command.command(name="url")
@click.argument("name")
@click.option("-n", "--namespace", default="default", show_default=True,
              help="Namespace of the Service.")
@click.option("--kubeconfig", "kubeconfig_path", default=None,
              help="Kubeconfig file (default: $KUBECONFIG or ~/.kube/config).")
@click.option("--context", default=None, help="Kubeconfig context (default: the current one).")
def url(name: str, namespace: str, kubeconfig_path: str | None, context: str | None) -> None:
    """Print the URL of Service NAME, one line per port (like `minikube service --url`).

    \b
    Example:
      probelab load -n 1000 "$(probelab service url simpleprobe -n probes)"
    """
    service, server = _read_service(name, namespace, kubeconfig_path, context)
    for line in service_urls(service, server):
        click.echo(line)
