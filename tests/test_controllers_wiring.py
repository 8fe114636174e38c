"""The engine finds the four controllers where `engine/cluster.py` lists them, and each one
follows the component contract: a name, start(ctx), stop() safe twice and before start."""

from __future__ import annotations

import pytest

from probelab.engine.cluster import COMPONENTS, _load
from probelab.engine.context import EngineConfig, EngineContext
from probelab.engine.store import Store
from proxy_support import run

CONTROLLERS = {
    "probelab.engine.controllers.namespace:NamespaceController": "namespace",
    "probelab.engine.controllers.replicaset:ReplicaSetController": "replicaset",
    "probelab.engine.controllers.deployment:DeploymentController": "deployment",
    "probelab.engine.controllers.endpoints:EndpointsController": "endpoints",
}


@pytest.mark.parametrize(("path", "name"), CONTROLLERS.items())
def test_controller_is_wired_and_stops_twice(path: str, name: str) -> None:
    assert path in COMPONENTS
    cls = _load(path)
    assert cls is not None and cls.name == name

    async def scenario() -> None:
        never_started = cls()
        await never_started.stop()
        component = cls()
        await component.start(EngineContext(Store(), EngineConfig()))
        with pytest.raises(RuntimeError):
            await component.start(EngineContext(Store(), EngineConfig()))
        await component.stop()
        await component.stop()

    run(scenario())
