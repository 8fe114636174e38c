"""The Deployment controller: `controller` (reads and writes), `rollout` (the pure plan of one
sync), `util` (revisions, template hashes, surge and unavailability arithmetic)."""

from probelab.engine.controllers.deployment.controller import DeploymentController

__all__ = ["DeploymentController"]
