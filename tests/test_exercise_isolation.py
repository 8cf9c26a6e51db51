"""Each exercise starts from a clean slate for what it owns: no two exercises put objects in the
same namespace or serve the same host, so one exercise's leftovers (an autoscaler, a
VirtualService) never act on another's Deployments or requests."""

from lab.exercises.catalogue import exercise_names, load_exercise
from lab.helm import render
from lab.manifests import load_manifest_file, ref_of

LAB_NAMESPACE = "canary-lab"    # where `up` runs httpbin and tornado: the canary exercise builds on it


def owned(name: str) -> tuple[set[str], set[str]]:
    """Namespaces and gateway hosts of every object an exercise's steps apply (solutions, loads too)."""
    exercise = load_exercise(name)
    objects = []
    for step in exercise.steps:
        plain = not step.patch and not step.helm
        for path in [*step.manifests, *([step.solution] if step.solution and plain else [])]:
            objects += load_manifest_file(path)
        if step.helm:
            for values in [list(step.values)] + [[step.solution]] * bool(step.solution):
                objects += render(step.helm.chart, step.helm.release, step.helm.namespace, values)
        objects += [obj for check in step.check if getattr(check.spec, "load", None)
                    for obj in load_manifest_file(exercise.folder / check.spec.load)]
    namespaces = {ref_of(o).namespace or o["metadata"]["name"] for o in objects} - {"", LAB_NAMESPACE}
    hosts = {host for o in objects if o["kind"] == "Gateway"
             for server in o["spec"].get("servers", []) for host in server.get("hosts", [])}
    hosts |= {listener["hostname"] for o in objects if o["kind"] == "Gateway"   # the Gateway API's listeners
              for listener in o["spec"].get("listeners", []) if listener.get("hostname")}
    return namespaces, hosts


def test_no_two_exercises_share_a_namespace_or_a_gateway_host():
    seen_namespaces: dict[str, str] = {}
    seen_hosts: dict[str, str] = {}
    for name in exercise_names():
        namespaces, hosts = owned(name)
        for namespace in namespaces:
            assert seen_namespaces.setdefault(namespace, name) == name, \
                f"{name} and {seen_namespaces[namespace]} both use namespace {namespace}"
        for host in hosts:
            assert seen_hosts.setdefault(host, name) == name, \
                f"{name} and {seen_hosts[host]} both serve {host}"
