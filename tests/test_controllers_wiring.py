"""The engine finds the four controllers where `engine/engine.py` lists them, each one follows
the component contract (a name, start(ctx), stop() safe twice and before start), and what they
write passes the API server's own checks."""

from __future__ import annotations

import pytest

from probelab.engine.controllers.deployment.controller import DeploymentController
from probelab.engine.controllers.endpoints import EndpointsController
from probelab.engine.controllers.namespace import NamespaceController
from probelab.engine.controllers.replicaset import ReplicaSetController
from probelab.engine.core.context import EngineConfig
from probelab.engine.engine import COMPONENTS, build_context
from probelab.k8s import schema, validation
from support.controllers import controllers, deployment, service
from support.fake_kubelet import FakeKubelet
from support.loops import run
from support.waiting import until

CONTROLLERS = {
    NamespaceController: "namespace",
    ReplicaSetController: "replicaset",
    DeploymentController: "deployment",
    EndpointsController: "endpoints",
}


@pytest.mark.parametrize(("cls", "name"), CONTROLLERS.items())
def test_controller_is_wired_and_stops_twice(cls: type, name: str) -> None:
    assert cls in COMPONENTS
    assert cls.name == name

    async def scenario() -> None:
        never_started = cls()
        await never_started.stop()
        component = cls()
        await component.start(build_context(EngineConfig()))
        with pytest.raises(RuntimeError):
            await component.start(build_context(EngineConfig()))
        await component.stop()
        await component.stop()

    run(scenario())


def test_what_the_controllers_write_passes_the_api_servers_checks() -> None:
    """Every ReplicaSet, pod, EndpointSlice and Endpoints the controllers create (and the
    Deployment status they write) is valid and has only known fields of the right types, so
    kubectl and the official client read them as they would a real cluster's."""
    async def scenario() -> None:
        async with controllers(DeploymentController, ReplicaSetController,
                               EndpointsController) as (store, _), FakeKubelet(store):
            store.create("deployments", deployment(replicas=2))
            store.create("services", service())
            await until(lambda: store.list("endpointslices")[0] and all(
                e["conditions"]["ready"] for s in store.list("endpointslices")[0]
                for e in s["endpoints"]) and len(store.list("pods")[0]) == 2
                and store.list("deployments")[0][0]["status"].get("availableReplicas") == 2,
                what="running")
            for resource in ("deployments", "replicasets", "pods", "endpointslices",
                             "endpoints"):
                for obj in store.list(resource)[0]:
                    name = f"{resource}/{obj['metadata']['name']}"
                    assert validation.validate(obj) == [], name
                    assert schema.unknown_fields(obj) == [], name
                    assert schema.type_errors(obj) == [], name

    run(scenario())
