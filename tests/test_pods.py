"""Each local pod gets a loopback port of its own, and a pod whose port is taken says so
instead of looking ready while another process answers for it."""

import socket
import sys

import pytest

from lab.backends.local.pods import desired_pods
from lab.backends.local.processes import Processes
from lab.backends.local.runners import load_runners
from lab.errors import LabError
from tests.conftest import by_ref


def deployment(name: str, replicas: int) -> str:
    return f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, namespace: shop}}
spec:
  replicas: {replicas}
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers: [{{name: web, image: canary-lab.invalid/version-app:1.0}}]
"""


def test_new_pods_never_share_a_port_nor_take_a_running_pods_port():
    # Ports picked one at a time repeat like birthdays: 300 draws from the ~14,000 ports
    # Linux hands to bind() share one with probability ~96%, so this fails without the fix.
    running = desired_pods(by_ref(deployment("old", 3)), load_runners(), {})
    current = {name: pod.process_spec() for name, pod in running.items()}
    many = "---".join(deployment(f"new{i}", 10) for i in range(30))   # 10: the local lab's cap
    pods = desired_pods(by_ref(deployment("old", 3) + "---" + many), load_runners(), current)
    new_ports = [p.port for p in pods.values() if p.deployment.startswith("new")]
    assert len(set(new_ports)) == 300
    assert not set(new_ports) & {spec["port"] for spec in current.values()}
    # Pods that already run keep their port.
    assert all(pods[name].port == spec["port"] for name, spec in current.items())


def test_a_pod_whose_port_is_taken_exits_with_the_reason(tmp_path):
    processes = Processes(tmp_path / "run")
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        port = squatter.getsockname()[1]
        # Something that would answer readiness on its own port, if it ever started.
        pod = {"argv": [sys.executable, "-c", "import time; time.sleep(30)"], "port": port}
        processes.start_supervisor({"shop/web-0": pod})
        try:
            with pytest.raises(LabError, match=f"shop/web-0 exited while starting: port {port} "
                                               "on 127.0.0.1 is already in use by another process"):
                processes.wait_ready({"shop/web-0": pod}, timeout=5)
        finally:
            processes.stop_supervisor()
    assert not processes.supervisor_alive()
