"""Where the repository and its tools are, found from this file so tests run from any folder."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PYTHON = sys.executable  # the test's own interpreter, so children import the same probelab
KUBECTL = REPO / ".venv" / "bin" / "kubectl"
MANIFESTS = REPO / "deploy" / "kubernetes"
