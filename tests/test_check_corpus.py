"""The corpus: manifests that reproduce real-world rollout mistakes (tests/fixtures/check/).

Each fixture names the incident or issue it reproduces (`# Source:`), the findings the author
expects from that report (`# expect:`), and optionally the timing model (`# model:`). The test
runs the checker on each and compares; then `--fix` must leave no fixable error and produce
manifests that the offline Kubernetes schema validation accepts.
"""

from __future__ import annotations

import re
from pathlib import Path

import kubernetes_validate
import pytest

from probelab.check import analyze, fix, sources
from probelab.check.model import Severity, TimingModel, timing_model
from support.paths import REPO

CORPUS = REPO / "tests" / "fixtures" / "check"
FIXTURES = sorted(CORPUS.glob("*.yaml"))
KUBERNETES_VERSION = "1.37.0"
NEEDS_A_HUMAN = {"service-selects-nothing", "service-target-port-unknown",
                 "probe-port-undeclared", "invalid-object"}


def header(path: Path, key: str) -> str | None:
    match = re.search(rf"^# {key}:(.*)$", path.read_text(), re.MULTILINE)
    return match.group(1).strip() if match else None


def model_of(path: Path) -> TimingModel:
    settings = dict(part.split("=") for part in (header(path, "model") or "").split())
    return timing_model(settings.get("profile"), None, 2.0, settings.get("version"))


def test_the_corpus_is_big_enough_and_cites_its_sources() -> None:
    assert len(FIXTURES) >= 20
    for path in FIXTURES:
        assert re.search(r"^# Source: .*https://", path.read_text(), re.MULTILINE), path.name
        assert header(path, "expect") is not None, path.name


@pytest.mark.parametrize("path", FIXTURES, ids=[p.stem for p in FIXTURES])
def test_fixture_yields_what_its_report_describes(path: Path) -> None:
    located = sources.locate(sources.read_inputs([str(path)]))
    found = analyze.check(located, model_of(path))
    expected = {r.strip() for r in (header(path, "expect") or "").split(",") if r.strip()}
    assert {f.rule for f in found} == expected, [f.message for f in found]
    for f in found:
        assert f.file == str(path) and f.line is not None and f.line > 1


@pytest.mark.parametrize("path", FIXTURES, ids=[p.stem for p in FIXTURES])
def test_fix_clears_the_fixable_errors_and_stays_valid(path: Path) -> None:
    located = sources.locate(sources.read_inputs([str(path)]))
    model = model_of(path)
    result = fix.fix([item.obj for item in located], model)
    left = {f.rule for f in result.remaining}
    assert left <= NEEDS_A_HUMAN, left
    errors_before = {f.rule for f in analyze.check(located, model)
                     if f.severity is Severity.ERROR}
    assert bool(result.edits) == bool(errors_before - NEEDS_A_HUMAN)
    for obj in result.objects:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
