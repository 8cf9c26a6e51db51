"""The autoscale exercise's autoscalers scale on the app container, not on the whole pod: in the
mesh a pod also runs the istio-proxy sidecar, whose CPU a pod-level Resource metric would add in."""

from lab.config import EXERCISES_DIR
from lab.manifests import load_manifest_file, ref_of

AUTOSCALERS = EXERCISES_DIR / "autoscale" / "manifests" / "autoscalers.yaml"


def test_each_autoscaler_scales_on_cpu_of_a_container_its_deployment_runs():
    objects = load_manifest_file(AUTOSCALERS)
    deployments = {ref_of(o).name: o for o in objects if o["kind"] == "Deployment"}
    autoscalers = [o for o in objects if o["kind"] == "HorizontalPodAutoscaler"]
    assert len(autoscalers) == len(deployments) == 2
    for hpa in autoscalers:
        target = deployments[hpa["spec"]["scaleTargetRef"]["name"]]
        containers = {c["name"]: c for c in target["spec"]["template"]["spec"]["containers"]}
        [metric] = hpa["spec"]["metrics"]
        assert metric["type"] == "ContainerResource", f"{ref_of(hpa)} scales on the whole pod, sidecar included"
        source = metric["containerResource"]
        assert source["name"] == "cpu" and source["container"] in containers
        assert containers[source["container"]]["resources"]["requests"]["cpu"], "utilization needs a CPU request"
