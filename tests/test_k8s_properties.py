"""Property: arbitrary JSON-like input never makes the model raise (errors are data)."""

from __future__ import annotations

import contextlib
import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from probelab.k8s import convert, defaults, patch, schema, validation
from support.samples import deployment

KEYS = st.sampled_from([
    "apiVersion", "kind", "metadata", "name", "labels", "spec", "template", "containers",
    "image", "ports", "containerPort", "readinessProbe", "httpGet", "port", "periodSeconds",
    "strategy", "rollingUpdate", "maxSurge", "selector", "matchLabels", "matchExpressions",
    "lifecycle", "preStop", "sleep", "seconds", "env", "volumes", "volumeMounts", "type",
    "replicas", "annotations", "namespace", "x",
]) | st.text(max_size=8)
KINDS = st.sampled_from(["Deployment", "ReplicaSet", "Pod", "Service", "Namespace",
                         "EndpointSlice", "Endpoints", "Event", "PodTemplate", "Other"])
SCALARS = (st.none() | st.booleans() | st.integers(-2**40, 2**40) | st.floats(allow_nan=False)
           | st.text(max_size=12))
JSON = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=4)
                    | st.dictionaries(KEYS, inner, max_size=5), max_leaves=40)


@st.composite
def objects(draw: st.DrawFn) -> Any:
    """Mostly object-shaped values with a real kind, so the rules are reached."""
    body = draw(st.dictionaries(KEYS, JSON, max_size=6))
    body["kind"] = draw(KINDS)
    body["apiVersion"] = draw(st.sampled_from(["v1", "apps/v1", "extensions/v1beta1",
                                               "discovery.k8s.io/v1", "apps/v1beta1"]))
    return body


@st.composite
def mutated_deployments(draw: st.DrawFn) -> Any:
    """A valid Deployment with one place replaced by an arbitrary value."""
    obj = deployment()
    node = obj
    for _ in range(draw(st.integers(0, 6))):
        if isinstance(node, dict) and node:
            key = draw(st.sampled_from(sorted(node)))
        elif isinstance(node, list) and node:
            key = draw(st.integers(0, len(node) - 1))
        else:
            break
        if not isinstance(node[key], dict | list):
            break
        node = node[key]
    if isinstance(node, dict):
        node[draw(KEYS)] = draw(JSON)
    return obj


@settings(max_examples=200, deadline=None)
@given(st.one_of(objects(), mutated_deployments(), JSON))
def test_model_functions_never_raise(obj: Any) -> None:
    original = copy.deepcopy(obj)
    served, _ = convert.to_served_version(obj)
    defaulted = defaults.apply_defaults(served)
    errors = validation.validate(defaulted, None)
    validation.validate(defaulted, defaulted)
    validation.validate(obj, None)
    line = validation.describe(defaulted, errors)
    assert "\n" not in line
    assert all(isinstance(e.field, str) and e.message for e in errors)
    schema.unknown_fields(obj)
    schema.type_errors(obj)
    assert obj == original  # nothing is changed in place


@settings(max_examples=200, deadline=None)
@given(JSON, JSON)
def test_patches_return_or_raise_value_error(target: Any, doc: Any) -> None:
    for apply in (lambda: patch.json_merge_patch(target, doc),
                  lambda: patch.strategic_merge_patch(target, doc, "Deployment"),
                  lambda: patch.json_patch(target, doc)):
        with contextlib.suppress(ValueError):
            apply()
