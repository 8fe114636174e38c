"""Imports flow one way (design §2): model -> components -> wiring -> CLI.

Walks every module's imports with `ast` and checks each package imports only from the layers
it may depend on, so a shortcut across layers fails here instead of in review.
"""

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src" / "probelab"

# package -> probelab packages it may import (besides itself and `errors`)
ALLOWED = {
    "k8s": set(),
    "web": set(),
    "load": set(),
    "report": set(),
    "engine": {"k8s"},
    "check": {"k8s"},
    "scenario": {"k8s", "load", "report", "check"},
    "commands": {"k8s", "web", "load", "engine", "scenario", "report", "cli", "check"},
}


def probelab_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module]
        elif isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "probelab" and len(parts) > 1:
                found.add(parts[1])
    return found


def test_imports_flow_one_way() -> None:
    problems = []
    for package, allowed in ALLOWED.items():
        for path in sorted((SRC / package).rglob("*.py")):
            bad = probelab_imports(path) - allowed - {package, "errors", "__init__"}
            if bad:
                problems.append(f"{path.relative_to(SRC)} imports {sorted(bad)}")
    assert not problems, "\n".join(problems)


def test_the_walker_sees_imports(tmp_path) -> None:
    sample = tmp_path / "m.py"
    sample.write_text("import probelab.engine.store\nfrom probelab.k8s import labels\n")
    assert probelab_imports(sample) == {"engine", "k8s"}
