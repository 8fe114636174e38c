"""The image table of the local engine: which host command an image name stands for.

The local engine runs no container images (docs/kubelet.md, "Images"); a container's image is
looked up here and its command runs as a host process (`probelab.engine.kubelet`). Three
sources, later ones winning:
1. built in: `probelab/simpleweb:TAG` runs the sample service with `--host $(POD_IP)` and
   `--app-version TAG` (the Dockerfile builds that image for real clusters);
2. `probelab.yaml` in the manifests directory (`images:` mapping IMAGE to a command string or
   an argv list);
3. `probelab cluster up --image IMAGE=COMMAND` (EngineConfig.images).
A name matches with or without registry and repository: `docker.io/probelab/simpleweb:2.0`,
`myrepo/simpleweb:2.0` and `simpleweb:2.0` all find the `simpleweb` entry (the demo's
`--image-repo` relies on this). An entry without a tag matches every tag; the tag is available to
commands as `$(IMAGE_TAG)`. An image not found is the kubelet's `ErrImagePull`, with
`missing_message` saying what to add.
"""

from __future__ import annotations

import shlex
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from probelab.errors import UsageError

BUILTIN_NAME = "simpleweb"
TABLE_FILE = "probelab.yaml"


@dataclass(frozen=True)
class ImageRef:
    """An image reference split into the parts the table matches on."""

    repository: str  # everything before the tag, registry included ("docker.io/x/simpleweb")
    tag: str  # "latest" when absent

    @property
    def name(self) -> str:
        """The last path component ("simpleweb")."""
        return self.repository.rsplit("/", 1)[-1]


def parse_image(image: str) -> ImageRef:
    """Split `[registry/][repo/]name[:tag][@digest]` (a digest is ignored)."""
    image = image.strip().split("@", 1)[0]
    last = image.rsplit("/", 1)[-1]
    if ":" in last:
        repository, tag = image.rsplit(":", 1)
    else:
        repository, tag = image, "latest"
    return ImageRef(repository, tag or "latest")


def _short(repository: str) -> str:
    """Docker Hub's implicit parts dropped: `docker.io/library/redis` is `redis`."""
    for prefix in ("docker.io/", "index.docker.io/", "registry-1.docker.io/"):
        if repository.startswith(prefix):
            repository = repository[len(prefix):]
            break
    return repository.removeprefix("library/")


def _candidates(ref: ImageRef) -> list[tuple[str, str | None]]:
    """Keys to try, most specific first: (repository form, tag or None for any tag)."""
    forms = []
    for form in (_short(ref.repository), ref.name):
        if form not in forms:
            forms.append(form)
    return [(form, tag) for form in forms for tag in (ref.tag, None)]


def _key(image: str) -> tuple[str, str | None]:
    """A table key: an entry written without a tag matches every tag."""
    ref = parse_image(image)
    last = image.split("@", 1)[0].rsplit("/", 1)[-1]
    return _short(ref.repository), ref.tag if ":" in last else None


def _argv(command: Any, source: str) -> tuple[str, ...]:
    if isinstance(command, str):
        try:
            words = shlex.split(command)
        except ValueError as exc:
            raise UsageError(f"{source}: cannot split command {command!r}: {exc}") from None
    elif isinstance(command, list) and all(isinstance(w, str | int | float) for w in command):
        words = [str(w) for w in command]
    else:
        raise UsageError(f"{source}: a command must be a string or a list of strings")
    if not words:
        raise UsageError(f"{source}: empty command")
    return tuple(words)


@dataclass(frozen=True)
class ImageTable:
    """IMAGE → argv; `resolve` answers None for an unmapped image."""

    entries: Mapping[tuple[str, str | None], tuple[str, ...]] = field(default_factory=dict)
    python: str = sys.executable

    @classmethod
    def build(cls, mappings: Iterable[tuple[str, str]] = (), manifests_dir: Path | None = None,
              python: str = sys.executable) -> ImageTable:
        """Built-ins, then `probelab.yaml` in `manifests_dir`, then `mappings` (--image)."""
        entries: dict[tuple[str, str | None], tuple[str, ...]] = {}
        if manifests_dir is not None and (manifests_dir / TABLE_FILE).is_file():
            entries.update(load_table_file(manifests_dir / TABLE_FILE))
        for image, command in mappings:
            entries[_key(image)] = _argv(command, f"--image {image}")
        return cls(entries, python)

    def resolve(self, image: str) -> list[str] | None:
        """The argv of `image` (before `$(VAR)` expansion), or None if unmapped."""
        ref = parse_image(image)
        for key in _candidates(ref):
            if key in self.entries:
                return [w.replace("$(IMAGE_TAG)", ref.tag) for w in self.entries[key]]
        if ref.name == BUILTIN_NAME:
            return [self.python, "-m", "probelab", "web", "--host", "$(POD_IP)",
                    "--app-version", ref.tag]
        return None


def parse_mapping(text: str) -> tuple[str, str]:
    """One `--image IMAGE=COMMAND` flag value."""
    image, sep, command = text.partition("=")
    if not sep or not image.strip() or not command.strip():
        raise UsageError(f"--image {text!r}: expected IMAGE=COMMAND")
    _argv(command, f"--image {image}")
    return image.strip(), command.strip()


def load_table_file(path: Path) -> dict[tuple[str, str | None], tuple[str, ...]]:
    """The `images:` mapping of a probelab.yaml."""
    try:
        doc = yaml.safe_load(path.read_text()) or {}
    except (OSError, yaml.YAMLError) as exc:
        raise UsageError(f"{path}: cannot read the image table: {exc}") from None
    images = doc.get("images") if isinstance(doc, dict) else None
    if images is None:
        return {}
    if not isinstance(images, dict):
        raise UsageError(f"{path}: `images` must map IMAGE to a command")
    return {_key(str(image)): _argv(command, f"{path}: {image}")
            for image, command in images.items()}


def missing_message(image: str) -> str:
    """What the ErrImagePull event tells the user to do."""
    return (f'Failed to pull image "{image}": the local engine has no command for this image; '
            f'start it with `probelab cluster up --image {image}=COMMAND` or add it under '
            f'`images:` in {TABLE_FILE} next to the manifests')
