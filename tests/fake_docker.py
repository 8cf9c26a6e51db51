"""Docker as the cluster path drives it (kind's registry, node files, networks; image builds and
pushes), answering as Docker's CLI reference says: https://docs.docker.com/reference/cli/docker/."""

import itertools
import json
from dataclasses import dataclass, field

from lab.backends.cluster.runner import Result

NO_SUCH = "Error response from daemon: No such container: {}"


@dataclass
class Container:
    id: str
    running: bool = True
    networks: set[str] = field(default_factory=lambda: {"bridge"})
    files: dict[str, str] = field(default_factory=dict)     # what `docker exec` wrote into it
    images: set[str] = field(default_factory=set)           # a registry's repositories:tags
    port: str = ""                                          # the host port it is published on


class Docker:
    def __init__(self):
        self.containers: dict[str, Container] = {}
        self.built: set[str] = set()          # tags in the engine's image store
        self._ids = itertools.count(1)

    def new(self, name: str, networks: set[str] | None = None) -> Container:
        self.containers[name] = Container(f"c{next(self._ids):04d}", networks=networks or {"bridge"})
        return self.containers[name]

    def remove(self, name: str) -> None:
        self.containers.pop(name, None)

    def registry_on(self, port: str) -> Container | None:
        """The registry published on 127.0.0.1:PORT (kind's: its -p; k3d's: the cluster's)."""
        return next((c for name, c in self.containers.items() if c.running and c.port == port), None)

    def run(self, argv: list[str], stdin: str | None) -> Result:
        verb = argv[1]
        if verb == "version":
            return Result(0, "arm64\n", "")   # the engine's architecture: an Apple-Silicon Docker
        if verb == "inspect":
            found = self.containers.get(argv[4])
            if found is None:
                return Result(1, "", NO_SUCH.format(argv[4]))
            template = argv[3]
            if template == "{{.State.Running}}":
                return Result(0, f"{str(found.running).lower()}\n", "")
            if template == "{{.Id}}":
                return Result(0, found.id + "\n", "")
            if template == "{{json .NetworkSettings.Networks.kind}}":
                return Result(0, json.dumps({"NetworkID": "kind"} if "kind" in found.networks else None) + "\n", "")
        if verb == "run":
            name = argv[argv.index("--name") + 1]
            if name in self.containers:
                return Result(125, "", f'Conflict. The container name "/{name}" is already in use')
            container = self.new(name)
            container.port = argv[argv.index("-p") + 1].split(":")[1]
            return Result(0, container.id + "\n", "")
        if verb == "rm":
            self.remove(argv[-1])
            return Result(0, "", "")
        if verb == "start":
            missing = [name for name in argv[2:] if name not in self.containers]
            for name in argv[2:]:
                if name in self.containers:
                    self.containers[name].running = True
            return Result(1 if missing else 0, "", "\n".join(NO_SUCH.format(n) for n in missing))
        if verb == "network" and argv[2] == "connect":
            self.containers[argv[4]].networks.add(argv[3])
            return Result(0, "", "")
        if verb == "exec":
            return self._exec(argv, stdin)
        if verb == "build":
            self.built.add(argv[argv.index("--tag") + 1])
            return Result(0, "", "")
        if verb == "push":
            tag = argv[2]
            if tag not in self.built:
                return Result(1, "", f"An image does not exist locally with the tag: {tag}")
            host, _, path = tag.partition("/")
            registry = self.registry_on(host.split(":")[1]) if host.startswith("127.0.0.1:") else None
            if registry is not None:
                registry.images.add(path)
            return Result(0, "", "")
        raise AssertionError(f"the fake Docker does not know {argv}")

    def _exec(self, argv: list[str], stdin: str | None) -> Result:
        """`exec NODE cat FILE`, and `exec -i NODE sh -c "mkdir -p DIR && cat > FILE"`."""
        interactive = argv[2] == "-i"
        name = argv[3] if interactive else argv[2]
        found = self.containers.get(name)
        if found is None or not found.running:
            return Result(1, "", NO_SUCH.format(name))
        command = argv[4:] if interactive else argv[3:]
        if command[:1] == ["cat"]:
            if command[1] not in found.files:
                return Result(1, "", f"cat: {command[1]}: No such file or directory")
            return Result(0, found.files[command[1]], "")
        if command[:2] == ["sh", "-c"] and "cat > " in command[2]:
            found.files[command[2].split("cat > ")[1].strip()] = stdin or ""
            return Result(0, "", "")
        raise AssertionError(f"the fake Docker does not run {command} in a container")
