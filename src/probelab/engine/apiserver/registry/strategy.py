"""What a kind may change in the generic write path: one `Strategy` object per kind.

Kubernetes gives every resource a strategy (`pkg/registry/<group>/<kind>/strategy.go`:
PrepareForCreate, PrepareForUpdate, Validate, ValidateUpdate, plus the REST storage's delete
and ReturnDeletedObject). The generic registry (`registry.generic`) runs the same steps for every
kind and asks the strategy only where kinds differ, so a new kind is one new strategy file and
one line in `registry.kinds`.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

from probelab.engine.apiserver.params import DeleteOptions
from probelab.engine.apiserver.status import field_cause
from probelab.engine.core.store import Store
from probelab.k8s.objects import Obj, spec


@dataclass(frozen=True)
class Env:
    """What a strategy may use besides the object: the store and the allocation settings."""

    store: Store
    rng: random.Random
    service_prefix: str


@dataclass
class Result:
    """What a write returns to the client: the object (or a Status), and Warning headers."""

    obj: Obj
    warnings: list[str] = field(default_factory=list)
    code: int = 200


class Strategy:
    """The defaults: no status on create beyond `{}`, nothing kind-specific."""

    # DELETE answers with the object rather than a Status (`ReturnDeletedObject`).
    returns_deleted_object = False
    # `spec.selector` may not change after create (apps/v1 Deployments, ReplicaSets...).
    immutable_selector = False

    def initial_status(self, obj: Obj) -> Obj:
        """The status a new object starts with: user-supplied status is dropped on create
        for kinds with a status subresource."""
        return {}

    def prepare_for_create(self, env: Env, obj: Obj) -> Obj:
        """Server-side changes after defaulting, before validation."""
        return obj

    def prepare_for_update(self, env: Env, new: Obj, old: Obj) -> Obj:
        return new

    def begin_write(self, env: Env, obj: Obj, old: Obj | None) -> Obj:
        """After validation, before storing (the storage's BeginCreate/BeginUpdate hooks):
        where a kind allocates from shared pools, so an invalid object allocates nothing."""
        return obj

    def validate_update(self, old: Obj, new: Obj) -> list[dict[str, str]]:
        """Causes for changes this kind forbids (beyond the schema's validation)."""
        if not self.immutable_selector:
            return []
        old_sel, new_sel = spec(old).get("selector"), spec(new).get("selector")
        if new_sel == old_sel:
            return []
        return [field_cause("spec.selector", f"Invalid value: {new_sel!r}: field is immutable")]

    def delete(self, env: Env, current: Obj, options: DeleteOptions) -> Result | None:
        """A kind's own deletion (graceful pods, terminating namespaces); None = remove now.
        With `options.dry_run` it must answer as it would and change nothing (pass `dry_run`
        to every store write)."""
        return None
