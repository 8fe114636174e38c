"""Imports flow one way, so the architecture in docs/architecture.md is what the code does.

Across packages: the model (`k8s`) and the standalone tools depend on nothing of probelab's;
components on the model; the CLI (`commands`) on everything. Inside the engine: `core` is
shared, the components (`apiserver`, `controllers`, `kubelet`, `proxy`) depend on `core` and
never on each other — they meet through the store and the API — and only `engine.py` wires
them. No module under `src/` may be part of an import cycle, counting imports made only for
type checking and imports inside functions (each is a cycle a refactoring has to untangle).
"""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
PKG = SRC / "probelab"

# package -> probelab packages it may import (besides itself and `errors`)
ALLOWED = {
    "k8s": set(),
    "web": set(),
    "load": set(),
    "report": {"load"},  # the outcome classes it reports are the load generator's
    "engine": {"k8s"},
    "check": {"k8s"},
    "scenario": {"k8s", "load", "report", "check"},
    "workloadtest": {"k8s", "load", "report", "check", "scenario"},
    "commands": {"k8s", "web", "load", "engine", "scenario", "report", "cli", "check",
                 "workloadtest"},
}

COMPONENTS = {"apiserver", "controllers", "kubelet", "proxy"}
# engine sub-package -> engine sub-packages it may import (besides itself)
ENGINE_ALLOWED = {
    "core": set(),
    # the engine's host network of the kernel data plane (ranges, claim, iproute2, nftables)
    "network": {"core"},
    # the watchdog sweeps the cgroups and processes core describes, and a dead engine's network
    "host": {"core", "network"},
    **{component: {"core"} for component in COMPONENTS},
    "kubelet": {"core", "network"},  # a pod's network namespace (kubelet/podnet.py)
    "proxy": {"core", "network"},  # the nftables table of the kernel data plane
    "engine": {"core", "network", *COMPONENTS},  # engine.py, the wiring
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported_modules(path: Path) -> set[str]:
    """Every probelab module `path` imports, anywhere in the file: `from a.b import c` counts
    as `a.b.c` when that is a module, else as `a.b`."""
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                sub = f"{node.module}.{alias.name}"
                found.add(sub if _is_module(sub) else node.module)
        elif isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
    return {name for name in found if name.split(".")[0] == "probelab"}


def _is_module(dotted: str) -> bool:
    base = SRC.joinpath(*dotted.split("."))
    return base.with_suffix(".py").exists() or (base / "__init__.py").exists()


def probelab_imports(path: Path) -> set[str]:
    """The top-level probelab packages `path` imports."""
    return {name.split(".")[1] for name in imported_modules(path) if "." in name}


def engine_part(module: str) -> str | None:
    """`core`, `apiserver`, ... for a module under probelab.engine; `engine` for engine.py."""
    parts = module.split(".")
    if parts[:2] != ["probelab", "engine"] or len(parts) < 3:
        return None
    return parts[2]


def test_imports_flow_one_way() -> None:
    problems = []
    for package, allowed in ALLOWED.items():
        for path in sorted((PKG / package).rglob("*.py")):
            bad = probelab_imports(path) - allowed - {package, "errors", "__init__"}
            if bad:
                problems.append(f"{path.relative_to(PKG)} imports {sorted(bad)}")
    assert not problems, "\n".join(problems)


def test_engine_components_meet_only_through_core() -> None:
    problems = []
    for path in sorted((PKG / "engine").rglob("*.py")):
        own = engine_part(module_name(path))
        if own is None:
            continue
        allowed = ENGINE_ALLOWED[own] | {own}
        for target in imported_modules(path):
            part = engine_part(target)
            if part is not None and part not in allowed:
                problems.append(f"{path.relative_to(PKG)} imports {target}")
    assert not problems, "\n".join(problems)


def test_every_engine_subpackage_has_a_rule() -> None:
    """A new folder under engine/ must be placed in the layering on purpose."""
    folders = {p.name for p in (PKG / "engine").iterdir()
               if p.is_dir() and (p / "__init__.py").exists()}
    assert folders <= set(ENGINE_ALLOWED), sorted(folders - set(ENGINE_ALLOWED))


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), or a self-import."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1 or node in graph.get(node, ()):
                cycles.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return cycles


def test_no_import_cycles_under_src() -> None:
    graph = {module_name(path): imported_modules(path) - {module_name(path)}
             for path in PKG.rglob("*.py")}
    assert find_cycles(graph) == []


def test_the_walkers_see_imports_and_cycles(tmp_path) -> None:
    sample = tmp_path / "m.py"
    sample.write_text("import probelab.engine.core.store\nfrom probelab.k8s import labels\n"
                      "def later():\n    from probelab.engine.kubelet import pod\n")
    assert imported_modules(sample) == {"probelab.engine.core.store", "probelab.k8s.labels",
                                        "probelab.engine.kubelet.pod"}
    assert probelab_imports(sample) == {"engine", "k8s"}
    assert find_cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []
