"""How a container image becomes a local process: apps/<app>/local.yaml.

The mapping lives with each app, not in code, so adding an app needs no Python.
"""

import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from lab.config import APPS_DIR
from lab.errors import LabError

PLACEHOLDERS = ("{python}", "{port}", "{app_dir}")


@dataclass(frozen=True)
class Runner:
    app: str
    images: tuple[str, ...]
    command: tuple[str, ...]
    ready_path: str
    app_dir: Path
    env: tuple[tuple[str, str], ...] = ()   # what the app needs besides the manifest's env
    reads_env: tuple[str, ...] = ()          # the env names the app reads: what a manifest may set (pods.py)
    # The port the image's app listens on in a container (its Dockerfile), per image name where
    # they differ; None: not said, so any targetPort is taken to reach it.
    port: int | None = None
    image_ports: tuple[tuple[str, int], ...] = ()

    def argv(self, port: int) -> list[str]:
        values = {"python": sys.executable, "port": str(port), "app_dir": str(self.app_dir)}
        return [part.format(**values) for part in self.command]

    def container_port(self, image: str) -> int | None:
        """Where this image's app listens inside a container: what a Service's targetPort must reach."""
        return dict(self.image_ports).get(image_name(image), self.port)


def image_name(image: str) -> str:
    """`docker.io/kennethreitz/httpbin:latest` → `docker.io/kennethreitz/httpbin` (tag/digest dropped)."""
    name = image.split("@", 1)[0]
    last = name.rsplit("/", 1)[-1]
    if ":" in last:
        name = name[: len(name) - len(last)] + last.split(":", 1)[0]
    return name


def load_runners(apps_dir: Path = APPS_DIR) -> list[Runner]:
    runners = []
    for spec_file in sorted(apps_dir.glob("*/local.yaml")):
        spec = yaml.safe_load(spec_file.read_text())
        runners.append(Runner(
            app=spec_file.parent.name,
            images=tuple(spec["images"]),
            command=tuple(spec["command"]),
            ready_path=spec.get("ready_path", "/"),
            app_dir=spec_file.parent,
            env=tuple((str(k), str(v)) for k, v in (spec.get("env") or {}).items()),
            reads_env=tuple(str(name) for name in spec.get("reads_env") or ()),
            port=spec.get("port"),
            image_ports=tuple((str(k), int(v)) for k, v in (spec.get("image_ports") or {}).items()),
        ))
    return runners


def runner_for(image: str, runners: list[Runner]) -> Runner:
    wanted = image_name(image)
    for runner in runners:
        if wanted in runner.images:
            return runner
    known = ", ".join(f"{r.images[0]}" for r in runners)
    raise LabError(f"image {image} has no local runner",
                   f"the local lab runs {known}; other images need k3d or minikube")
