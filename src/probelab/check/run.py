"""`probelab check` end to end: read, check, render, optionally fix; returns the exit code.

Kept apart from the click command so the demo can print the same findings, and from the rules
so they stay pure.
"""

from __future__ import annotations

from pathlib import Path
from typing import TextIO

import yaml
from rich.console import Console

from probelab.check import analyze, fix, sources
from probelab.check.model import Finding, Severity, TimingModel
from probelab.check.output import github, json_out, sarif, table

RENDERERS = {"json": json_out.render, "sarif": sarif.render, "github": github.render}


def exit_code(findings: list[Finding], threshold: Severity | None) -> int:
    if threshold is None:
        return 0
    return 1 if any(f.severity >= threshold for f in findings) else 0


def main(paths: list[str], model: TimingModel, fmt: str, threshold: Severity | None,
         do_fix: bool, write: bool, stdin: TextIO, out: TextIO, err: TextIO) -> int:
    located = sources.locate(sources.read_inputs(paths, stdin))
    if do_fix:
        return _fix(located, model, threshold, write, out, err)
    findings = analyze.check(located, model)
    if fmt == "table":
        table.print_table(findings, model, Console(file=out))
    else:
        out.write(RENDERERS[fmt](findings, model))
    return exit_code(findings, threshold)


def _fix(located: list[sources.Located], model: TimingModel, threshold: Severity | None,
         write: bool, out: TextIO, err: TextIO) -> int:
    result = fix.fix([item.obj for item in located], model)
    if write:
        _write(located, result.objects, out, err)
    else:
        out.write(render_patches(located, result))
    for finding in result.remaining:
        err.write(f"not fixed: {finding.rule} {finding.kind}/{finding.name} {finding.field}: "
                  f"{finding.message}\n")
    after = analyze.findings_for(result.objects, model)
    return exit_code(after, threshold)


def brief(paths: list[str], model: TimingModel) -> list[str]:
    """One line per finding (worst first within each object), for `probelab demo` to print
    before it runs the manifests: the errors it is about to demonstrate."""
    return finding_lines(analyze.check(sources.locate(sources.read_inputs(paths)), model))


def finding_lines(findings: list[Finding]) -> list[str]:
    """One line per finding, as `brief` and `probelab test` print them."""
    return [f"{f.severity} {f.rule}: {f.kind} {f.name}"
            + (f" container {f.container}" if f.container else "") + f": {f.message}"
            for f in findings]


def render_patches(located: list[sources.Located], result: fix.FixResult) -> str:
    """One YAML document per patched object, headed by what to run with it."""
    docs = []
    for index, edit in sorted(result.edits.items()):
        if not edit.patch:
            continue
        item = located[index]
        meta = item.obj.get("metadata") or {}
        name, namespace = meta.get("name", ""), meta.get("namespace") or "default"
        kind = str(item.obj.get("kind", "")).lower()
        header = (f"# {item.obj.get('kind')} {namespace}/{name} ({item.source.name})\n"
                  f"# kubectl patch {kind} {name} -n {namespace} --type strategic "
                  "--patch-file THIS.yaml\n")
        docs.append(header + yaml.safe_dump(edit.patch, sort_keys=False))
    return "---\n".join(docs) if docs else "# nothing to fix\n"


def _write(located: list[sources.Located], objects: list[dict], out: TextIO,
           err: TextIO) -> None:
    """Rewrite each changed file with its objects replaced (stdin: print the result)."""
    by_text: dict[int, list[int]] = {}
    for item in located:
        by_text.setdefault(id(item.source), []).append(item.index)
    for indexes in by_text.values():
        source = located[indexes[0]].source
        stdin = source.name == "<stdin>"
        if not stdin and all(objects[i] == located[i].obj for i in indexes):
            continue
        docs = list(yaml.safe_load_all(source.text))
        for i in indexes:
            item = located[i]
            doc = docs[item.document - 1]
            is_list = isinstance(doc, dict) and str(doc.get("kind", "")).endswith("List") \
                and isinstance(doc.get("items"), list)
            if is_list:
                doc["items"][item.item] = objects[i]
            else:
                docs[item.document - 1] = objects[i]
        text = yaml.safe_dump_all([d for d in docs if d is not None], sort_keys=False)
        if stdin:
            out.write(text)
        else:
            Path(source.name).write_text(text, encoding="utf-8")
            err.write(f"wrote {source.name}\n")
