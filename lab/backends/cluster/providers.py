"""Cluster providers, one small interface (after kind's Provider): state and exists, start,
create, delete, the wiring around a cluster, the kubeconfig, images built where the cluster pulls
them, and whether the gateway needs a port-forward. Settings come from cluster/.
"""

import json
from abc import ABC, abstractmethod
from pathlib import Path

import yaml

from lab.backends.cluster import versions
from lab.backends.cluster.images import LAB_HOST, in_registry, repository
from lab.backends.cluster.runner import Runner
from lab.backends.cluster.tools import platform_names
from lab.config import CLUSTER_DIR, gateway_tls_port
from lab.errors import LabError
from lab.files import write_atomic


class Provider(ABC):
    name: str
    tool: str

    def __init__(self, runner: Runner, run_dir: Path, kubeconfig: Path, gateway_port: int, registry_port: int = 0):
        self.runner = runner
        self.run_dir = run_dir
        self.kubeconfig = kubeconfig
        self.gateway_port = gateway_port
        self.registry_port = registry_port   # the host side of a registry the lab makes (k3d)
        self.pull_registry = ""              # `existing`: a registry the cluster pulls from (up --registry)

    @property
    @abstractmethod
    def cluster_name(self) -> str:
        """The cluster's (or profile's) name."""

    @abstractmethod
    def state(self) -> str:
        """"missing", "stopped" (it exists: a reboot or `k3d cluster stop` stops it) or "running"."""

    def exists(self) -> bool:
        return self.state() != "missing"

    @abstractmethod
    def start(self) -> None:
        """Start the stopped cluster, keeping everything in it."""

    # An optional hook, not abstract: most providers build nothing early.
    def prebuild(self, images: dict[str, Path]) -> None:  # noqa: B027
        """Build what `build_images` will need, while the cluster is being created (when the
        build does not need the cluster)."""

    @abstractmethod
    def create(self) -> None:
        """Create the cluster (only called when it does not exist)."""

    @abstractmethod
    def delete(self) -> None:
        """Delete the cluster and everything in it."""

    def ensure_wiring(self) -> bool:
        """What the cluster needs around it beyond what `create` made, checked on every `up` and done
        when missing (an `up` interrupted right after `create` left it undone); True if it did something."""
        return False

    def images_home(self) -> str:
        """Where the lab's images are kept outside the cluster (kind: its registry container's id), so
        that a new one is filled again; "" where they live and die with the cluster."""
        return ""

    @abstractmethod
    def write_kubeconfig(self) -> None:
        """Write the cluster's kubeconfig to the lab's own file, never the user's."""

    @abstractmethod
    def build_images(self, images: dict[str, Path]) -> None:
        """Build the lab's images (name → build folder) for the nodes' architecture and make them
        pullable in the cluster under those names — never through `docker save`, which fails on
        Docker's containerd image store (k3d-io/k3d#1538)."""

    @property
    def needs_port_forward(self) -> bool:
        """True when the gateway is reached through a port-forward the lab runs."""
        return False

    # A cluster the lab did not make: `down` removes only what the lab made in it.
    keeps_cluster = False
    # Where HorizontalPodAutoscalers' metrics come from (lab/backends/cluster/metrics_server.py): the lab
    # installs metrics-server only where the cluster it makes has none; otherwise, how to get it back.
    installs_metrics_server = False
    metrics_server_fix = "`invoke up` again; `invoke down` and `invoke up` make the cluster afresh"


def docker_arch(runner: Runner) -> str:
    """The architecture of the Docker engine the nodes run on (Go's name: amd64, arm64). Not this
    Python's: an x86-64 Python under Rosetta on an Apple-Silicon Mac still drives an arm64 engine."""
    # https://docs.docker.com/reference/cli/docker/version/ (--format, the Server's Arch)
    answer = runner.run(["docker", "version", "--format", "{{.Server.Arch}}"], check=False).stdout.strip().lower()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(answer, answer) or platform_names()[1]


def build_for_registry(runner: Runner, port: int, images: dict[str, Path], push: bool = True) -> None:
    """Each image built for the Docker engine's architecture and pushed to the lab's registry on
    127.0.0.1:PORT (Docker allows plain HTTP to loopback registries), where the nodes pull it.
    Built again after a build without push, it comes from Docker's build cache in a moment."""
    arch = docker_arch(runner)
    for image, context in images.items():
        pushed = f"127.0.0.1:{port}/{repository(image)}"   # where the nodes' mirror of the lab's host looks
        # https://docs.docker.com/reference/cli/docker/buildx/build/ (--platform, --tag)
        runner.run(["docker", "build", "--platform", f"linux/{arch}", "--tag", pushed, str(context)], timeout=900)
        if push:
            runner.run(["docker", "push", pushed], timeout=600)


class K3d(Provider):
    name = "k3d"
    tool = "k3d"
    # k3s runs metrics-server as a packaged component (k3s-io/k3s manifests/metrics-server/), unless
    # started with --disable=metrics-server, which cluster/k3d.yaml does not do
    metrics_server_fix = "k3s runs it unless --disable=metrics-server: `kubectl -n kube-system get deploy " \
                         "metrics-server`; `invoke down` and `invoke up` make the cluster afresh"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.settings = yaml.safe_load((CLUSTER_DIR / "k3d.yaml").read_text())

    @property
    def cluster_name(self) -> str:
        return self.settings["metadata"]["name"]

    def rendered_config(self) -> Path:
        """cluster/k3d.yaml with the pinned k3s image, and the host side of the gateway ports set to
        the lab's ports."""
        settings = yaml.safe_load((CLUSTER_DIR / "k3d.yaml").read_text())
        settings["image"] = versions.K3S_IMAGE
        settings["registries"]["create"]["hostPort"] = str(self.registry_port)
        host_ports = {"80": self.gateway_port, "443": gateway_tls_port(self.gateway_port)}
        for entry in settings["ports"]:
            address, _, container = entry["port"].rpartition(":")
            host_ip = address.split(":")[0]
            entry["port"] = f"{host_ip}:{host_ports[container]}:{container}"
        path = self.run_dir / "k3d.yaml"
        write_atomic(path, yaml.safe_dump(settings, sort_keys=False))
        return path

    def _listed(self) -> dict | None:
        # k3d cmd/cluster/clusterList.go: -o json prints each cluster with serversRunning/serversCount
        listed = json.loads(self.runner.run(["k3d", "cluster", "list", "-o", "json"]).stdout or "[]")
        return next((cluster for cluster in listed if cluster.get("name") == self.cluster_name), None)

    def state(self) -> str:
        listed = self._listed()
        if listed is None:
            return "missing"
        running = listed.get("serversCount", 0) > 0 and listed.get("serversRunning") == listed.get("serversCount")
        return "running" if running else "stopped"

    def start(self) -> None:
        # k3d cmd/cluster/clusterStart.go: --wait (for the servers and load balancer), --timeout
        self.runner.run(["k3d", "cluster", "start", self.cluster_name, "--wait", "--timeout", "300s"], timeout=600)

    def create(self) -> None:
        self.runner.run(["k3d", "cluster", "create", "--config", str(self.rendered_config()),
                         "--wait", "--timeout", "300s"], timeout=600)

    def delete(self) -> None:
        self.runner.run(["k3d", "cluster", "delete", self.cluster_name])

    def write_kubeconfig(self) -> None:
        # `k3d kubeconfig get` prints it; writing it ourselves keeps the user's file untouched.
        text = self.runner.run(["k3d", "kubeconfig", "get", self.cluster_name]).stdout
        write_atomic(self.kubeconfig, text)
        self.kubeconfig.chmod(0o600)

    def build_images(self, images: dict[str, Path]) -> None:
        """Pushed to the registry k3d made with the cluster (its docs, usage/registries.md: push
        through the host port; only the repository path matters when the cluster pulls it)."""
        build_for_registry(self.runner, self.registry_port, images)

    def prebuild(self, images: dict[str, Path]) -> None:
        build_for_registry(self.runner, self.registry_port, images, push=False)


class Minikube(Provider):
    name = "minikube"
    tool = "minikube"
    # cluster/minikube.yaml starts it with --addons=metrics-server (minikube deploy/addons/metrics-server/)
    metrics_server_fix = "`minikube addons enable metrics-server --profile canary-lab`"

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.settings = yaml.safe_load((CLUSTER_DIR / "minikube.yaml").read_text())

    @property
    def cluster_name(self) -> str:
        return self.settings["profile"]

    @property
    def env(self) -> dict:
        # minikube writes its context into $KUBECONFIG: point it at the lab's file.
        return {"KUBECONFIG": str(self.kubeconfig)}

    def start_argv(self) -> list[str]:
        argv = ["minikube", "start", "--profile", self.cluster_name,
                f"--kubernetes-version={versions.MINIKUBE_KUBERNETES}"]
        for key, value in self.settings.items():
            if key == "profile":
                continue
            if isinstance(value, list):
                argv += [f"--{key}={','.join(map(str, value))}"]
            else:
                argv += [f"--{key}={value}"]
        return argv

    def _listed(self) -> dict | None:
        # https://minikube.sigs.k8s.io/docs/commands/profile/ (profile list -o json: {"valid": [...], "invalid": [...]})
        result = self.runner.run(["minikube", "profile", "list", "-o", "json"], check=False)
        try:
            listed = json.loads(result.stdout or "{}")
        except json.JSONDecodeError:
            return None
        profiles = listed.get("valid", []) + listed.get("invalid", [])
        return next((p for p in profiles if p.get("Name") == self.cluster_name),
                    None)

    def state(self) -> str:
        listed = self._listed()
        if listed is None:
            return "missing"
        # minikube cmd/minikube/cmd/config/profile_list.go: Status "OK"/"Running" when up, "Stopped"/"Paused" not
        return "running" if listed.get("Status") in ("OK", "Running") else "stopped"

    def start(self) -> None:
        # `minikube start` on an existing profile starts it again with what is in it
        self.runner.run(self.start_argv(), env=self.env, timeout=900)

    def create(self) -> None:
        self.runner.run(self.start_argv(), env=self.env, timeout=900)

    def delete(self) -> None:
        self.runner.run(["minikube", "delete", "--profile", self.cluster_name], env=self.env)

    def write_kubeconfig(self) -> None:
        self.runner.run(["minikube", "update-context", "--profile", self.cluster_name], env=self.env)

    def build_images(self, images: dict[str, Path]) -> None:
        """Built inside the node by its own container runtime (minikube cmd/minikube/cmd/image.go:
        `image build PATH -t TAG`), so the host's image store is never involved."""
        for image, context in images.items():
            self.runner.run(["minikube", "image", "build", str(context), "--tag", image, "--profile",
                             self.cluster_name],
                            env=self.env, timeout=900)

    @property
    def needs_port_forward(self) -> bool:
        return True


class Kind(Provider):
    name = "kind"
    tool = "kind"
    installs_metrics_server = True     # a kind cluster has none: `up` installs metrics-server's chart
    registry = "canary-lab-registry"
    # containerd's hosts.toml for the lab's image host (containerd docs/hosts.md; kind's
    # site/static/examples/kind-with-registry.sh): pulled from the lab's registry only. No `server`
    # line: its default is the host itself, canary-lab.invalid, which never resolves, so a miss fails.
    HOSTS_DIR = f"/etc/containerd/certs.d/{LAB_HOST}"
    HOSTS_TOML = f'[host."http://{registry}:5000"]\n  capabilities = ["pull", "resolve"]\n'

    @property
    def cluster_name(self) -> str:
        return "canary-lab"

    @property
    def node(self) -> str:
        return f"{self.cluster_name}-control-plane"   # kind names its one node CLUSTER-control-plane

    def _running(self, container: str) -> bool:
        # https://docs.docker.com/reference/cli/docker/inspect/ (-f with a Go template)
        done = self.runner.run(["docker", "inspect", "-f", "{{.State.Running}}", container], check=False)
        return done.returncode == 0 and done.stdout.strip() == "true"

    def state(self) -> str:
        # kind pkg/cmd/kind/get/clusters: one name a line
        listed = self.runner.run(["kind", "get", "clusters"], check=False).stdout.split()
        if self.cluster_name not in listed:
            return "missing"
        return "running" if self._running(self.node) else "stopped"

    def _ensure_registry(self) -> bool:
        """The registry container, as kind-with-registry.sh step 1 makes it (started if stopped)."""
        if self._running(self.registry):
            return False
        # https://docs.docker.com/reference/cli/docker/container/start/: a stopped one keeps its images
        if self.runner.run(["docker", "start", self.registry], check=False).returncode == 0:
            return True
        self.runner.run(["docker", "rm", "-f", self.registry], check=False)
        self.runner.run(["docker", "run", "-d", "--restart=always", "-p", f"127.0.0.1:{self.registry_port}:5000",
                         "--network", "bridge", "--name", self.registry, "registry:3"], timeout=300)
        return True

    def create(self) -> None:
        # The registry first, as kind's site/static/examples/kind-with-registry.sh does; the rest of its
        # wiring is ensure_wiring's, which every `up` runs.
        self._ensure_registry()
        # kind pkg/cmd/kind/create/cluster/createcluster.go: --name, --image, --config, --kubeconfig, --wait
        self.runner.run(["kind", "create", "cluster", "--name", self.cluster_name, "--image", versions.KIND_NODE_IMAGE,
                         "--config", str(CLUSTER_DIR / "kind.yaml"), "--kubeconfig", str(self.kubeconfig),
                         "--wait", "300s"], timeout=900)

    def ensure_wiring(self) -> bool:
        """kind-with-registry.sh steps 1, 3 and 4, each only if missing: the registry runs, each node
        pulls the lab's host from it (hosts.toml), and it is on the `kind` network the nodes use."""
        changed = self._ensure_registry()
        hosts_file = f"{self.HOSTS_DIR}/hosts.toml"
        for node in self.runner.run(["kind", "get", "nodes", "--name", self.cluster_name]).stdout.split():
            # https://docs.docker.com/reference/cli/docker/container/exec/ (-i: stdin to the command)
            found = self.runner.run(["docker", "exec", node, "cat", hosts_file], check=False)
            if found.returncode != 0 or found.stdout != self.HOSTS_TOML:
                self.runner.run(["docker", "exec", "-i", node, "sh", "-c",
                                 f"mkdir -p {self.HOSTS_DIR} && cat > {hosts_file}"], input=self.HOSTS_TOML)
                changed = True
        networks = self.runner.run(["docker", "inspect", "-f", "{{json .NetworkSettings.Networks.kind}}",
                                    self.registry], check=False)
        if networks.stdout.strip() in ("", "null"):
            self.runner.run(["docker", "network", "connect", "kind", self.registry])
            changed = True
        return changed

    def images_home(self) -> str:
        # a registry made again (removed by hand, or never started after an interrupted `up`) is empty
        done = self.runner.run(["docker", "inspect", "-f", "{{.Id}}", self.registry], check=False)
        return done.stdout.strip() if done.returncode == 0 else ""

    def start(self) -> None:
        self.runner.run(["docker", "start", self.node], timeout=300)   # its registry: ensure_wiring

    def delete(self) -> None:
        # kind pkg/cmd/kind/delete/cluster: --name, --kubeconfig (only its entry is removed there)
        self.runner.run(["kind", "delete", "cluster", "--name", self.cluster_name, "--kubeconfig",
                         str(self.kubeconfig)])
        self.runner.run(["docker", "rm", "-f", self.registry], check=False)

    def write_kubeconfig(self) -> None:
        text = self.runner.run(["kind", "get", "kubeconfig", "--name", self.cluster_name]).stdout
        write_atomic(self.kubeconfig, text)
        self.kubeconfig.chmod(0o600)

    def build_images(self, images: dict[str, Path]) -> None:
        build_for_registry(self.runner, self.registry_port, images)

    def prebuild(self, images: dict[str, Path]) -> None:
        build_for_registry(self.runner, self.registry_port, images, push=False)

    @property
    def needs_port_forward(self) -> bool:
        return True   # kind has no LoadBalancer: the gateway is port-forwarded, as on minikube


class Existing(Provider):
    """The cluster of the current kubeconfig context (Docker Desktop's, a cloud one, an
    instructor's): never created, started or deleted by the lab; the lab copies that one context
    into its own kubeconfig at the first `up` and keeps using it."""
    name = "existing"
    tool = "kubectl"
    keeps_cluster = True
    metrics_server_fix = "install metrics-server into the cluster (not the lab's to install there): " \
                         "see `invoke doctor --provider existing`"

    @property
    def cluster_name(self) -> str:
        if self.kubeconfig.exists():
            found = yaml.safe_load(self.kubeconfig.read_text()) or {}
            if found.get("current-context"):
                return found["current-context"]
        # https://kubernetes.io/docs/reference/kubectl/generated/kubectl_config/kubectl_config_current-context/
        done = self.runner.run(["kubectl", "config", "current-context"], check=False)
        if done.returncode != 0 or not done.stdout.strip():
            raise LabError("there is no current kubeconfig context for --provider existing",
                           "pick one with `kubectl config use-context NAME`, or use --provider k3d")
        return done.stdout.strip()

    def state(self) -> str:
        # https://kubernetes.io/docs/reference/kubectl/generated/kubectl_version/ (asks the server too)
        argv = ["kubectl", "version", "--request-timeout=10s"]
        if self.kubeconfig.exists():
            argv += ["--kubeconfig", str(self.kubeconfig)]
        done = self.runner.run(argv, check=False)
        if done.returncode != 0:
            raise LabError(f"the cluster of context {self.cluster_name} does not answer",
                           "check it with `kubectl get nodes`; the lab never starts or creates it")
        return "running"

    def create(self) -> None:
        raise LabError("--provider existing never creates a cluster", "use --provider k3d, minikube or kind")

    def start(self) -> None:
        self.create()

    def delete(self) -> None:
        """Nothing: the cluster is not the lab's (`down` removes what the lab made in it)."""

    def write_kubeconfig(self) -> None:
        if self.kubeconfig.exists():
            return   # the context copied at the first `up` stays the lab's, whatever is current now
        # https://kubernetes.io/docs/reference/kubectl/generated/kubectl_config/kubectl_config_view/
        # (--minify: the current context only; --flatten --raw: credentials inline, usable alone)
        text = self.runner.run(["kubectl", "config", "view", "--minify", "--flatten", "--raw"]).stdout
        write_atomic(self.kubeconfig, text)
        self.kubeconfig.chmod(0o600)

    def build_images(self, images: dict[str, Path]) -> None:
        """Built into the local Docker's image store, which Docker Desktop's Kubernetes runs from;
        with `up --registry R`, tagged R/NAME and pushed there (the learner's `docker login`), for a
        remote cluster that cannot see this Docker. Built for the cluster's nodes' architecture."""
        arch = self._node_arch() if self.pull_registry else docker_arch(self.runner)
        for image, context in images.items():
            tag = in_registry(image, self.pull_registry) if self.pull_registry else image
            # https://docs.docker.com/reference/cli/docker/buildx/build/ (--platform, --tag)
            self.runner.run(["docker", "build", "--platform", f"linux/{arch}", "--tag", tag, str(context)], timeout=900)
            if self.pull_registry:
                # https://docs.docker.com/reference/cli/docker/image/push/
                self.runner.run(["docker", "push", tag], timeout=600)

    def _node_arch(self) -> str:
        """The first node's architecture (kubelet's status.nodeInfo.architecture): a remote cluster's
        may differ from this Docker's."""
        # https://kubernetes.io/docs/reference/kubectl/jsonpath/
        done = self.runner.run(["kubectl", "get", "nodes", "--kubeconfig", str(self.kubeconfig), "-o",
                                "jsonpath={.items[0].status.nodeInfo.architecture}"], check=False)
        return done.stdout.strip() or docker_arch(self.runner)

    @property
    def needs_port_forward(self) -> bool:
        return True


PROVIDERS: dict[str, type[Provider]] = {"k3d": K3d, "minikube": Minikube, "kind": Kind, "existing": Existing}
