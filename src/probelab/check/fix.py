"""`--fix`: the smallest change that clears the errors a machine can clear.

Each fixer edits a copy of the object and records the same edit in a strategic-merge patch
(containers merge by `name`, a `null` deletes a key: `kubectl patch --type strategic`). Fixes
can depend on each other (a new preStop delay may need a longer grace period), so the rules run
again on the fixed objects until nothing more changes. Errors that need a human (a selector
that matches nothing, a port name that does not exist) are left and reported.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from probelab.check.analyze import findings_for
from probelab.check.lines import split_path
from probelab.check.model import Finding, Severity, TimingModel
from probelab.check.prestop import may_lack_shell, prestop
from probelab.check.rules import load_rules
from probelab.check.rules.common import safe_delay, target_ports
from probelab.check.rules.schema import suggest
from probelab.check.rules.traffic import grace_needed
from probelab.check.workloads import Container, Inventory, Obj, Workload, inventory, mapping
from probelab.k8s.intstr import scaled_value

MAX_ROUNDS = 30  # one fix per object per round; a pod rarely needs more than a few
# A key path: strings are map keys, ("containers", NAME) is the list item merged by name.
Key = str | tuple[str, str]


@dataclass
class Edit:
    """The patched object and its strategic-merge patch."""

    obj: Obj
    patch: dict[str, Any] = field(default_factory=dict)

    def set(self, keys: list[Key], value: Any) -> None:
        """Set (or with None, delete) the value at `keys` in the object and the patch; both
        are left untouched when a keyed list item does not exist (LookupError)."""
        saved = copy.deepcopy((self.obj, self.patch))
        try:
            self._set(keys, value)
        except LookupError:
            self.obj.clear()
            self.obj.update(saved[0])
            self.patch = saved[1]
            raise

    def _set(self, keys: list[Key], value: Any) -> None:
        target, patch = self.obj, self.patch
        for key in keys[:-1]:
            if isinstance(key, tuple):
                name_field, name = key
                target = next((c for c in target.get(name_field) or []
                               if isinstance(c, dict) and c.get("name") == name), None)
                if target is None:  # a nameless container cannot be patched by name
                    raise LookupError(f"no {name_field} item named {name!r}")
                items = patch.setdefault(name_field, [])
                entry = next((e for e in items if e.get("name") == name), None)
                if entry is None:
                    entry = {"name": name}
                    items.append(entry)
                patch = entry
            else:
                if not isinstance(target.get(key), dict):
                    target[key] = {}
                target = target[key]
                patch = patch.setdefault(key, {})
        last = keys[-1]
        assert isinstance(last, str)
        if value is None:
            target.pop(last, None)
        else:
            target[last] = copy.deepcopy(value)
        patch[last] = copy.deepcopy(value)

    def replace(self, keys: list[Key], old: dict[str, Any], new: dict[str, Any]) -> None:
        """Swap a whole mapping (a hook's handler): keys only in `old` become null."""
        for key in old:
            if key not in new:
                self.set([*keys, key], None)
        for key, value in new.items():
            self.set([*keys, key], value)


def _pod_keys(workload: Workload) -> list[Key]:
    return ["spec", "template", "spec"] if workload.template_path else ["spec"]


def _container_keys(workload: Workload, name: str) -> list[Key]:
    return [*_pod_keys(workload), ("containers", name)]


def _find(inv: Inventory, finding: Finding) -> tuple[Workload, Container] | None:
    for workload in inv.workloads:
        if workload.ref.index == finding.document:
            for c in workload.containers:
                if c.name == finding.container:
                    return workload, c
    return None


def _sleep_hook(model: TimingModel, seconds: int, image: str) -> dict[str, Any] | None:
    if model.has_sleep_action:
        return {"sleep": {"seconds": seconds}}
    if may_lack_shell(image):
        return None  # nothing to sleep with: needs a hook in the app (reported, not fixed)
    return {"exec": {"command": ["sleep", str(seconds)]}}


Fixer = Callable[[Edit, Finding, Inventory, TimingModel], bool]


def fix_readiness(edit: Edit, finding: Finding, inv: Inventory, model: TimingModel) -> bool:
    """A tcpSocket readiness probe on the port the Service targets: "Ready once it listens"
    is the least a manifest can promise without knowing the app's health endpoint."""
    found = _find(inv, finding)
    if found is None:
        return False
    workload, c = found
    wanted = [p for s in inv.services_for(workload) for p in target_ports(s)]
    port = next((p for p in wanted if c.declares(p)), None)
    if port is None and c.ports:
        port = c.ports[0].get("name") or c.ports[0].get("containerPort")
    if port is None:
        return False
    edit.set([*_container_keys(workload, c.name), "readinessProbe"],
             {"tcpSocket": {"port": port}, "periodSeconds": 2, "failureThreshold": 2})
    return True


def fix_prestop(edit: Edit, finding: Finding, inv: Inventory, model: TimingModel) -> bool:
    found = _find(inv, finding)
    if found is None:
        return False
    workload, c = found
    seconds = safe_delay(model)
    hook = prestop(workload, c)
    keys = [*_container_keys(workload, c.name), "lifecycle", "preStop"]
    if hook.action == "sleep":
        edit.set([*keys, "sleep", "seconds"], seconds)
        return True
    if hook.action == "exec-sleep":
        command = list(c.prestop["exec"]["command"]) if c.prestop else []
        last = command[-1]
        command[-1] = (str(seconds) if command[-2:-1] != ["-c"]
                       else re.sub(r"sleep\s+\S+", f"sleep {seconds}", last, count=1))
        edit.set([*keys, "exec", "command"], command)
        return True
    if hook.action != "none":
        return False  # a declared httpGet/app delay: only the app can change it
    new = _sleep_hook(model, seconds, c.image)
    if new is None:
        return False
    edit.set(keys, new)
    return True


def fix_sleep_unsupported(edit: Edit, finding: Finding, inv: Inventory,
                          model: TimingModel) -> bool:
    found = _find(inv, finding)
    if found is None or may_lack_shell(found[1].image) or found[1].prestop is None:
        return False
    workload, c = found
    seconds = int(prestop(workload, c).delay_s or safe_delay(model))
    edit.replace([*_container_keys(workload, c.name), "lifecycle", "preStop"], c.prestop,
                 {"exec": {"command": ["sleep", str(seconds)]}})
    return True


def fix_grace(edit: Edit, finding: Finding, inv: Inventory, model: TimingModel) -> bool:
    found = _find(inv, finding)
    needed = grace_needed(*found, model) if found is not None else None
    if found is None or needed is None or needed <= found[0].grace_s:
        return False
    edit.set([*_pod_keys(found[0]), "terminationGracePeriodSeconds"], needed)
    return True


def fix_rollout(edit: Edit, finding: Finding, inv: Inventory, model: TimingModel) -> bool:
    if finding.kind == "DaemonSet":
        edit.set(["spec", "updateStrategy", "rollingUpdate", "maxUnavailable"], 1)
        return True
    rolling = ((edit.obj.get("spec") or {}).get("strategy") or {}).get("rollingUpdate") or {}
    keys: list[Key] = ["spec", "strategy", "rollingUpdate"]
    edit.set([*keys, "maxUnavailable"], 0)
    replicas = (edit.obj.get("spec") or {}).get("replicas", 1)
    try:
        surge = scaled_value(rolling.get("maxSurge", "25%"), int(replicas), round_up=True)
    except (TypeError, ValueError):
        surge = 0
    if surge < 1:
        edit.set([*keys, "maxSurge"], 1)
    return True


def fix_pdb(edit: Edit, finding: Finding, inv: Inventory, model: TimingModel) -> bool:
    replicas = None
    budget = next((b for b in inv.budgets if b.ref.index == finding.document), None)
    if budget is not None:
        counts = [w.replicas for w in inv.in_namespace("workloads", budget.ref.namespace)
                  if budget in inv.budgets_for(w)]
        replicas = min((n for n in counts if n is not None), default=None)
    if finding.field == "spec.minAvailable" and replicas is not None and replicas > 1:
        edit.set(["spec", "minAvailable"], replicas - 1)
    else:
        edit.set(["spec", "minAvailable"], None)
        edit.set(["spec", "maxUnavailable"], 1)
    return True


def _keys(obj: Obj, path: str) -> tuple[list[Key], Any] | None:
    """The Key list of a field path and the value there; None when the path crosses a list
    other than containers (their items have no merge key a patch could name)."""
    keys: list[Key] = []
    node: Any = obj
    for token in split_path(path):
        if isinstance(token, int):
            name_field = keys.pop() if keys else None
            items = node if isinstance(node, list) else []
            if name_field not in ("containers", "initContainers") or token >= len(items):
                return None
            node = items[token]
            keys.append((str(name_field), str(mapping(node).get("name"))))
        else:
            keys.append(token)
            node = mapping(node).get(token)
    return keys, node


def fix_unknown_field(edit: Edit, finding: Finding, inv: Inventory,
                      model: TimingModel) -> bool:
    """Rename a misspelt field to the rollout field it resembles when that one is absent
    (`preStopHook` -> `preStop`), else remove it: it never reaches the pod either way."""
    found = _keys(edit.obj, finding.field)
    if found is None or not found[0] or not isinstance(found[0][-1], str):
        return False
    keys, value = found
    suggestion = suggest(str(keys[-1]))
    parent = _keys(edit.obj, finding.field.rsplit(".", 1)[0]) if "." in finding.field else None
    if suggestion and parent is not None and suggestion not in mapping(parent[1]):
        edit.set([*keys[:-1], suggestion], value)
    edit.set(keys, None)
    return True


FIXERS: dict[str, Fixer] = {
    "unknown-field": fix_unknown_field,
    "readiness-missing": fix_readiness,
    "prestop-missing": fix_prestop,
    "prestop-shorter-than-lag": fix_prestop,
    "sleep-action-unsupported": fix_sleep_unsupported,
    "grace-too-short": fix_grace,
    "sleep-action-invalid": fix_grace,
    "rollout-takes-all-down": fix_rollout,
    "pdb-blocks-eviction": fix_pdb,
}


@dataclass
class FixResult:
    objects: list[Obj]  # every object, patched where needed
    edits: dict[int, Edit]  # object index -> its edit
    remaining: list[Finding]  # errors left after fixing


def fix(objects: list[Obj], model: TimingModel) -> FixResult:
    edits: dict[int, Edit] = {}
    current = [copy.deepcopy(o) for o in objects]
    order = {rule_id: i for i, rule_id in enumerate(load_rules())}
    for _ in range(MAX_ROUNDS):
        errors = sorted((f for f in findings_for(current, model)
                         if f.severity is Severity.ERROR), key=lambda f: order[f.rule])
        inv = inventory(current)
        changed = False
        done: set[int] = set()
        for finding in errors:
            fixer = FIXERS.get(finding.rule)
            # one fix per object and round: the next fix must see the rules' new verdict
            if fixer is None or finding.document in done:
                continue
            edit = edits.setdefault(finding.document, Edit(current[finding.document]))
            try:
                fixed = fixer(edit, finding, inv, model)
            except LookupError:
                continue  # reported among the remaining errors
            if fixed:
                done.add(finding.document)
                changed = True
        if not changed:
            break
    remaining = [f for f in findings_for(current, model) if f.severity is Severity.ERROR]
    return FixResult(current, edits, remaining)
