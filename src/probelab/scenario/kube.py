"""Everything the demo asks of a cluster, through the official `kubernetes` client.

No engine-specific shortcuts: the same calls run against `probelab cluster up` and a real
cluster. Blocking calls (the client is synchronous); the runner calls them from threads.
"""

from __future__ import annotations

import contextlib
import copy
import json
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from kubernetes import client, config, utils
from kubernetes.client.rest import ApiException

from probelab.errors import RuntimeFailure, UsageError

POLL_S = 0.2


def api_client(kubeconfig: str | None, context: str | None) -> client.ApiClient:
    try:
        return config.new_client_from_config(config_file=kubeconfig, context=context)
    except config.ConfigException as exc:
        raise UsageError(f"kubeconfig: {exc}") from None
    except FileNotFoundError as exc:
        raise UsageError(f"kubeconfig not found: {exc.filename}") from None


def api_failure(exc: ApiException) -> RuntimeFailure:
    """An API error nobody expected, as one line: status, reason and the Status message
    when the body has one."""
    message = ""
    with contextlib.suppress(ValueError, AttributeError):
        message = json.loads(exc.body or "").get("message") or ""
    return RuntimeFailure(f"the Kubernetes API answered {exc.status} {exc.reason}"
                          + (f": {message}" if message else ""))


def wait_for(check: Callable[[], Any], timeout_s: float, what: str) -> Any:
    """Poll `check` until it returns something truthy; RuntimeFailure after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise RuntimeFailure(f"timed out after {timeout_s:.0f} s waiting for {what}")
        time.sleep(POLL_S)


def with_image_repo(objs: list[dict], image_repo: str) -> list[dict]:
    """Point every `…/simpleweb:TAG` container at `image_repo:TAG` (pure)."""
    out = copy.deepcopy(objs)
    for obj in out:
        spec = ((obj.get("spec") or {}).get("template") or {}).get("spec") or {}
        for container in spec.get("containers") or []:
            image = container.get("image", "")
            name, _, tag = image.rpartition(":")
            if name.rsplit("/", 1)[-1] == "simpleweb":
                container["image"] = f"{image_repo}:{tag or 'latest'}"
    return out


NODE_PORTS = range(30000, 32768)


def with_node_port(objs: list[dict], url: str | None) -> list[dict]:
    """Give every NodePort Service the port of `url` when that port is a NodePort (pure).

    Each run deletes and re-creates its namespace, and a re-created Service would get a new
    random nodePort, so a URL looked up once (`minikube service --url …`) would go stale after
    the first run. Pinning the port keeps one `--url` valid for every run, both variants
    included: they run one after the other, never at the same time.
    """
    port = urlsplit(url).port if url else None
    out = copy.deepcopy(objs)
    if port not in NODE_PORTS:
        return out
    for obj in out:
        spec = obj.get("spec") or {}
        if obj.get("kind") != "Service" or spec.get("type") != "NodePort":
            continue
        for entry in (spec.get("ports") or [])[:1]:
            entry["nodePort"] = port
    return out


class Cluster:
    """A namespace-scoped view of one cluster for the demo."""

    def __init__(self, api: client.ApiClient) -> None:
        self.api = api
        self.core = client.CoreV1Api(api)
        self.apps = client.AppsV1Api(api)

    def check_reachable(self) -> str:
        try:
            info = client.VersionApi(self.api).get_code(_request_timeout=5)
        except Exception as exc:  # urllib3 errors vary; the message is what matters
            raise RuntimeFailure(f"cannot reach the cluster API: {exc}") from None
        return info.git_version

    def apply(self, objs: list[dict]) -> None:
        """Create each object (namespaces first, as `kubectl create -f DIR` does in file order);
        a namespace that already exists (kept by `clear_namespace`) is used as it is."""
        for obj in objs:
            if obj.get("kind") == "Namespace" and not self.namespace_gone(
                    (obj.get("metadata") or {}).get("name", "")):
                continue
            try:
                utils.create_from_dict(self.api, obj)
            except utils.FailToCreateError as exc:
                reasons = "; ".join(str(e.reason) + ": " + str(e.body)[:200]
                                    for e in exc.api_exceptions)
                raise RuntimeFailure(f"creating {obj.get('kind')} failed: {reasons}") from None

    def _namespace(self, namespace: str) -> Any | None:
        """The namespace object, or None when there is none."""
        try:
            return self.core.read_namespace(namespace)
        except ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def namespace_gone(self, namespace: str) -> bool:
        return self._namespace(namespace) is None

    def delete_namespace(self, namespace: str, timeout_s: float, grace_s: int | None) -> None:
        """Delete the namespace and wait until it is gone; with `grace_s`, its pods are deleted
        with that grace period while it goes.

        The namespace is marked first, so its Deployment cannot bring pods back (deleting the
        pods first let the ReplicaSet replace them, and the namespace then removed those with
        their full grace period and preStop hook: about 10 s a run). Pods are deleted again on
        each poll: the namespace's own cleanup may have started them with a longer grace."""
        if self.namespace_gone(namespace):
            return
        self._ignore_gone(self.core.delete_namespace, namespace)

        def gone() -> bool:
            if grace_s is not None:
                self._delete_pods(namespace, grace_s)
            return self.namespace_gone(namespace)

        wait_for(gone, timeout_s, f"namespace {namespace} gone")

    def clear_namespace(self, namespace: str, timeout_s: float) -> None:
        """Remove the demo's objects from `namespace` (Deployments with their ReplicaSets,
        Services, pods with grace 0, events) and wait until no pod is left, but keep the
        namespace itself: deleting it costs the namespace controller's 5 s grace period each
        time (`namespaceDeletionGracePeriod`), four times a demo. A namespace already being
        deleted is waited for instead."""
        ns = self._namespace(namespace)
        if ns is None:
            return
        if ns.metadata.deletion_timestamp:
            wait_for(lambda: self.namespace_gone(namespace), timeout_s,
                     f"namespace {namespace} gone")
            return
        for dep in self.apps.list_namespaced_deployment(namespace).items:
            self._ignore_gone(self.apps.delete_namespaced_deployment, dep.metadata.name,
                              namespace, propagation_policy="Background")
        for svc in self.core.list_namespaced_service(namespace).items:
            self._ignore_gone(self.core.delete_namespaced_service, svc.metadata.name, namespace)

        def empty() -> bool:
            self._delete_pods(namespace, 0)
            return not (self.core.list_namespaced_pod(namespace).items
                        or self.apps.list_namespaced_replica_set(namespace).items)

        wait_for(empty, timeout_s, f"namespace {namespace} emptied")
        try:  # tidiness only (the observer ignores older events): a role may not allow it
            self.core.delete_collection_namespaced_event(namespace)
        except ApiException as exc:
            if exc.status not in (403, 404, 405):
                raise

    @staticmethod
    def _ignore_gone(delete: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        try:
            delete(*args, **kwargs)
        except ApiException as exc:
            if exc.status != 404:
                raise

    def _delete_pods(self, namespace: str, grace_s: int) -> None:
        for pod in self.core.list_namespaced_pod(namespace).items:
            current = pod.metadata.deletion_grace_period_seconds
            if current is not None and current <= grace_s:
                continue  # already going at least that fast
            self._ignore_gone(self.core.delete_namespaced_pod, pod.metadata.name, namespace,
                              grace_period_seconds=grace_s)

    def deployment(self, namespace: str, name: str) -> Any:
        return self.apps.read_namespaced_deployment(name, namespace)

    def pods(self, namespace: str, selector: str) -> list[Any]:
        return self.core.list_namespaced_pod(namespace, label_selector=selector).items

    def rollout_done(self, namespace: str, name: str) -> bool:
        """`kubectl rollout status` done, and no pod of the app left terminating."""
        dep = self.deployment(namespace, name)
        st, want = dep.status, dep.spec.replicas
        if (st.observed_generation or 0) < dep.metadata.generation:
            return False
        if (st.updated_replicas or 0) != want or (st.replicas or 0) != want:
            return False
        if (st.available_replicas or 0) != want or (st.ready_replicas or 0) != want:
            return False
        selector = ",".join(f"{k}={v}" for k, v in dep.spec.selector.match_labels.items())
        pods = self.pods(namespace, selector)
        # A deleted pod is still listed while it terminates, and its replacement may not exist
        # yet: the count alone would call a `delete pod` done at once.
        return len(pods) == want and not any(p.metadata.deletion_timestamp for p in pods)

    def scale(self, namespace: str, name: str, replicas: int) -> None:
        body = {"spec": {"replicas": replicas}}
        self.apps.patch_namespaced_deployment_scale(name, namespace, body)

    def set_image(self, namespace: str, name: str, container: str, image: str) -> None:
        body = {"spec": {"template": {"spec": {"containers": [{"name": container,
                                                               "image": image}]}}}}
        self.apps.patch_namespaced_deployment(name, namespace, body)

    def patch_deployment(self, namespace: str, name: str, body: dict) -> None:
        """A strategic-merge patch (the client's choice for a dict body), as kubectl's."""
        self.apps.patch_namespaced_deployment(name, namespace, body)

    def delete_pod(self, namespace: str, name: str) -> None:
        """Delete one pod with its own terminationGracePeriodSeconds, as `kubectl delete pod`."""
        self._ignore_gone(self.core.delete_namespaced_pod, name, namespace)

    def delete_pods(self, namespace: str, selector: str, grace_s: int) -> int:
        """Delete the selected pods with `grace_s`; how many are left (terminating ones too)."""
        pods = self.pods(namespace, selector)
        for pod in pods:
            current = pod.metadata.deletion_grace_period_seconds
            if current is None or current > grace_s:
                self._ignore_gone(self.core.delete_namespaced_pod, pod.metadata.name, namespace,
                                  grace_period_seconds=grace_s)
        return len(pods)

    def events(self, namespace: str) -> list[dict]:
        items = self.core.list_namespaced_event(namespace).items
        return [self.api.sanitize_for_serialization(e) for e in items]

    def pod_dicts(self, namespace: str, selector: str) -> list[dict]:
        return [self.api.sanitize_for_serialization(p) for p in self.pods(namespace, selector)]

    def delete_object(self, obj: dict) -> None:
        """Delete any object of a manifest by its kind (dependents in the background); an
        object already gone, or of a kind this cluster does not serve, is skipped."""
        from probelab.k8s.resources import for_kind

        info = for_kind(str(obj.get("kind", "")))
        meta = obj.get("metadata") or {}
        if info is None or not meta.get("name"):
            return
        api_version = str(obj.get("apiVersion") or info.version)
        base = f"/apis/{api_version}" if "/" in api_version else f"/api/{api_version}"
        where = f"/namespaces/{meta.get('namespace') or 'default'}" if info.namespaced else ""
        path = f"{base}{where}/{info.plural}/{meta['name']}"
        # param_serialize adds the host and the kubeconfig's credentials (client >= v30).
        method, url, headers, body, post = self.api.param_serialize(
            "DELETE", path, header_params={"Content-Type": "application/json"},
            body={"propagationPolicy": "Background"}, auth_settings=["BearerToken"])
        try:
            response = self.api.call_api(method, url, header_params=headers, body=body,
                                         post_params=post, _request_timeout=10)
            response.read()
            if response.status >= 400:
                raise ApiException(http_resp=response)
        except ApiException as exc:
            if exc.status not in (404, 405):
                raise

    def node_addresses(self) -> list[dict[str, str]]:
        """Every node's addresses; none when nodes cannot be listed (no permission, or a
        cluster that serves no Node objects, like probelab's own engine): `service_url` then
        asks for --url."""
        try:
            nodes = self.core.list_node().items
        except ApiException as exc:
            if exc.status in (401, 403, 404):
                return []
            raise
        return [{"type": a.type, "address": a.address}
                for n in nodes for a in (n.status.addresses or [])]

    def serves_core(self, plural: str) -> bool:
        """Whether the core API group serves `plural` (discovery, as kubectl asks)."""
        return any(r.name == plural for r in self.core.get_api_resources().resources)

    def node_dicts(self) -> list[dict]:
        return [self.api.sanitize_for_serialization(n) for n in self.core.list_node().items]

    def set_unschedulable(self, node: str, unschedulable: bool) -> None:
        """Cordon or uncordon a node, as `kubectl cordon` / `uncordon` patch it."""
        self.core.patch_node(node, {"spec": {"unschedulable": unschedulable}})

    def evict(self, namespace: str, name: str, body: dict) -> int:
        """POST pods/NAME/eviction; the HTTP status (429 while a PDB forbids it)."""
        try:
            self.core.create_namespaced_pod_eviction(name, namespace, body)
        except ApiException as exc:
            return int(exc.status or 0)
        return 201

    def service(self, namespace: str, name: str) -> dict:
        svc = self.core.read_namespaced_service(name, namespace)
        return self.api.sanitize_for_serialization(svc)


def service_url(service: dict, node_addresses: list[dict[str, str]], local: bool) -> str:
    """The URL a client outside the cluster uses (pure; like `minikube service --url`).

    Local engine: NodePort on 127.0.0.1. Real cluster: a node's ExternalIP, else InternalIP,
    with the NodePort; a Service without a nodePort cannot be reached from outside.
    """
    ports = (service.get("spec") or {}).get("ports") or []
    node_port = next((p.get("nodePort") for p in ports if p.get("nodePort")), None)
    name = (service.get("metadata") or {}).get("name", "?")
    if node_port is None:
        raise UsageError(f"service {name} has no nodePort; pass --url")
    if local:
        return f"http://127.0.0.1:{node_port}/"
    for kind in ("ExternalIP", "InternalIP"):
        for addr in node_addresses:
            if addr.get("type") == kind and addr.get("address"):
                host = addr["address"]
                host = f"[{host}]" if ":" in host else host
                return f"http://{host}:{node_port}/"
    raise UsageError(f"no node address found for service {name}; pass --url")
