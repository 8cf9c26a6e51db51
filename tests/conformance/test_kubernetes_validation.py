"""Kubernetes' own validation tests, as cases for the lab (the API server the clusters run, 1.35).

Ports from k8s.io/apimachinery/pkg/util/validation/validation_test.go (TestIsValidPortNum: 1, 2, 1000,
16384, 32768 and 65535 are ports; 0, -1, 65536 and 100000 are not), as a Service's port and
targetPort and a container's port take them (pkg/apis/core/validation), except a targetPort of 0,
which the API server defaults to the port. A refusal says Kubernetes refuses it. A Deployment's immutable selector is a rule on updates: test_validation_paths.py.
"""

import copy

import pytest
import yaml

from lab.config import PROJECT_DIR
from tests.conformance.validation_cases import ACCEPTED, REFUSED, Case, judge

SAMPLE = list(yaml.safe_load_all((PROJECT_DIR / "apps" / "sample-apps.yaml").read_text()))
DEPLOYMENT, SERVICE = SAMPLE[1], SAMPLE[2]
PORTS = "apimachinery TestIsValidPortNum"
GOOD, BAD = (1, 2, 1000, 16384, 32768, 65535), (0, -1, 65536, 100000)


def service_port(**port) -> dict:
    service = copy.deepcopy(SERVICE)
    service["spec"]["ports"][0].update(port)
    return service


def container_port(number: int) -> dict:
    deployment = copy.deepcopy(DEPLOYMENT)
    deployment["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = number
    return deployment


CASES = [
    *(Case(PORTS, f"Service port {n}", service_port(port=n), ACCEPTED) for n in GOOD),
    *(Case(PORTS, f"Service port {n}", service_port(port=n), REFUSED, f"spec.ports[0].port is {n}") for n in BAD),
    *(Case(PORTS, f"Service targetPort {n}", service_port(targetPort=n), REFUSED, f"targetPort is {n}")
      for n in BAD if n),
    # 0 is not refused but defaulted to the port (pkg/apis/core/v1/defaults.go SetDefaults_Service)
    Case("core/v1 SetDefaults_Service", "Service targetPort 0", service_port(targetPort=0), ACCEPTED),
    Case(PORTS, "Service targetPort 65535", service_port(targetPort=65535), ACCEPTED),
    Case(PORTS, "Service targetPort by name", service_port(targetPort="http"), ACCEPTED),
    *(Case(PORTS, f"containerPort {n}", container_port(n), REFUSED, f"containerPort is {n}") for n in BAD),
    Case(PORTS, "containerPort 8080", container_port(8080), ACCEPTED),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_kubernetes_validation_case(case: Case) -> None:
    judge(case)
