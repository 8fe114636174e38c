"""What each scenario asks of the API, decided before anything is applied (pure).

Every check that can fail on user input runs here, up front: an impossible scale target or a
`--new-image` naming a container the Deployment does not have is exit 2 before the engine
starts. A strategic-merge patch that names an unknown container *adds* one (the new pods then
crash-loop and the rollout stalls), so that is refused here, never sent.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from probelab.errors import UsageError
from probelab.workloadtest.config import Action, Scenario
from probelab.workloadtest.target import Target

RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"


@dataclass(frozen=True)
class Step:
    """One scenario's action, resolved against the target."""

    scenario: Scenario
    action: Action
    replicas: int  # the Deployment's replicas after the action
    description: str  # "scale 3 -> 1", "roll out (restartedAt)", ...


def scale_down_target(replicas: int, wanted: int | None) -> int:
    """Default: ceil(replicas / 3), what a typical scale-in after a peak does."""
    target = math.ceil(replicas / 3) if wanted is None else wanted
    if replicas < 2:
        raise UsageError(f"scale-down: the Deployment has {replicas} replica(s); it needs at "
                         "least 2 to scale in")
    if target >= replicas:
        raise UsageError(f"scale-down={target}: must be below the Deployment's {replicas} "
                         "replicas")
    return target


def scale_up_target(replicas: int, wanted: int | None) -> int:
    """Default: twice the replicas (at least one more)."""
    target = max(2 * replicas, replicas + 1) if wanted is None else wanted
    if target <= replicas:
        raise UsageError(f"scale-up={target}: must be above the Deployment's {replicas} replicas")
    return target


def check_new_images(target: Target, new_images: tuple[tuple[str, str], ...]) -> None:
    for container, _ in new_images:
        if container not in target.containers:
            raise UsageError(f"--new-image {container}=...: deployment/{target.deployment} has no "
                             f"container {container!r} (containers: "
                             f"{', '.join(target.containers)})")


def check_images_mapped(target: Target, new_images: tuple[tuple[str, str], ...],
                        unmapped: Callable[[str], bool]) -> None:
    """Every image the test will run has a command on the local engine: else the pods would
    wait in ErrImagePull until --rollout-timeout, which says the same thing minutes later."""
    for image in (*target.images, *(i for _, i in new_images)):
        if unmapped(image):
            raise UsageError(f"image {image} has no command on the local engine: add "
                             f"--image '{image}=COMMAND' (e.g. 'python3 app.py $(POD_IP) 8080')")


def plan_steps(target: Target, scenarios: tuple[Scenario, ...],
               new_images: tuple[tuple[str, str], ...]) -> list[Step]:
    check_new_images(target, new_images)
    if new_images and not any(s.action is Action.ROLLING_UPDATE for s in scenarios):
        raise UsageError("--new-image needs the rolling-update scenario")
    steps = []
    n = target.replicas
    for scenario in scenarios:
        action = scenario.action
        if action is Action.SCALE_DOWN:
            to = scale_down_target(n, scenario.replicas)
            steps.append(Step(scenario, action, to, f"scale {n} -> {to}"))
        elif action is Action.SCALE_UP:
            to = scale_up_target(n, scenario.replicas)
            steps.append(Step(scenario, action, to, f"scale {n} -> {to}"))
        elif action is Action.DELETE_POD:
            if n < 1:
                raise UsageError("delete-pod: the Deployment has 0 replicas")
            steps.append(Step(scenario, action, n, "delete one pod (its own grace period)"))
        elif action is Action.DRAIN:
            steps.append(Step(scenario, action, n, "drain the pods' nodes one by one "
                                                   "(cordon, evict, uncordon)"))
        else:
            what = ", ".join(f"{c}={i}" for c, i in new_images) or RESTARTED_AT
            steps.append(Step(scenario, action, n, f"roll out ({what})"))
    return steps


def rollout_patch(new_images: tuple[tuple[str, str], ...], now_iso: str) -> dict[str, Any]:
    """The patch `kubectl rollout restart` sends (a new pod template annotation, so any image
    gets a new ReplicaSet), plus the images of `--new-image` by container name."""
    template: dict[str, Any] = {"metadata": {"annotations": {RESTARTED_AT: now_iso}}}
    if new_images:
        template["spec"] = {"containers": [{"name": c, "image": i} for c, i in new_images]}
    return {"spec": {"template": template}}
