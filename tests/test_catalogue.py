"""The catalogue's self-test (like rustlings' dev check): every exercise loads, its files
exist, its manifests and patches are ones the lab accepts, and on the local lab every
solution passes its check and every unsolved learner step fails it."""

import os
import shutil

import pytest

from lab.backends.local.schema import check_supported
from lab.backends.select import current_backend
from lab.config import EXERCISES_DIR, gateway_tls_port, lab_paths
from lab.errors import LabError
from lab.exercises.catalogue import exercise_names, gateway_api_names, load_exercise
from lab.exercises.checks import run_check
from lab.exercises.walkthrough import Walkthrough
from lab.helm import render
from lab.manifests import load_manifest_file
from lab.patches import load_patch
from lab.validate import validate
from tests.lab_process import new_lab

NAMES = exercise_names()


def test_there_are_exercises_and_their_names_are_unique():
    assert "canary" in NAMES and "progressive" in NAMES
    assert len(NAMES) == len(set(NAMES))


@pytest.mark.parametrize("name", NAMES)
def test_exercise_loads_and_its_files_are_ones_the_lab_accepts(name, request):
    exercise = load_exercise(name)
    skip_without_helm_if_it_uses_helm(exercise, request)
    assert exercise.title and exercise.summary and exercise.destinations
    assert "local" in exercise.backends
    assert "istio.io" in exercise.steps[-1].text, "the recap links to the Istio docs"
    for step in exercise.steps:
        assert step.text.strip() or step.question, f"{name}/{step.name} has no text"
        if step.kind == "task":
            assert step.hints, f"{name}/{step.name} has no hint"
        plain = not step.patch and not step.helm
        files = [*step.manifests] + ([step.solution] if step.solution and plain else []) + \
            ([step.workfile] if step.workfile and plain else [])
        objects = [obj for path in files for obj in load_manifest_file(path)]
        if step.helm:
            for values in [step.values] + [[f] for f in (step.solution, step.workfile) if f]:
                objects += render(step.helm.chart, step.helm.release, step.helm.namespace, list(values))
        objects += [obj for check in step.check if getattr(check.spec, "load", None)
                    for obj in load_manifest_file(exercise.folder / check.spec.load)]
        local = not step.backends or "local" in step.backends
        for obj in objects:
            if local:
                check_supported(obj)   # cluster-only steps' files are checked by test_manifests_valid
            validate(obj)
        if step.patch:
            load_patch(step.solution)
            load_patch(step.workfile)


def exercise_folder(name: str):
    return load_exercise(name).folder


def skip_without_helm_if_it_uses_helm(exercise, request) -> None:
    if any(step.helm for step in exercise.steps):
        request.getfixturevalue("helm")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    lab = new_lab(tmp_path_factory.mktemp("catalogue"))
    lab.invoke("up", "--provider", "local")
    os.environ["CANARY_LAB_ROOT"] = str(lab.root)
    yield lab
    del os.environ["CANARY_LAB_ROOT"]
    lab.cleanup()


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_every_solution_passes_its_check_on_the_local_lab(lab, name, request):
    skip_without_helm_if_it_uses_helm(load_exercise(name), request)
    played = lab.invoke("exercise", name, "--yes", "--reset")
    assert f"Exercise {name} complete" in played.stdout
    steps = load_exercise(name).steps
    cluster_only = [s for s in steps if s.backends and "local" not in s.backends]
    shown = " ".join(played.stdout.split())
    assert shown.count("skipped: this step needs k3d or minikube; the local lab cannot do it") == len(cluster_only)
    # Step texts name this lab's gateway (its port is not 8080 here), never a raw {{placeholder}}.
    assert "{{" not in shown
    if name == "canary":
        assert f"curl -H 'Host: canary.lab.local' {lab.url}/" in shown
        assert f"https://canary.lab.local:{gateway_tls_port(lab.port)}/" in shown
    for step in steps:          # a manifest that would give away what the learner is to measure is applied unshown
        for hidden in step.unshown:
            assert f"{hidden.relative_to(exercise_folder(name)).as_posix()}: applied, not shown" in shown
            assert " ".join(hidden.read_text().splitlines()[0].split()) not in shown
    for step in steps:          # --yes answers each question with its right choice, and says so
        if step.question:
            assert f"answer: {step.question.answer[0]} ✓ right: {step.question.answer[0]}" in shown
    if name == "auto-rollout":   # --yes ran both rollouts itself, and showed each decision
        assert_both_rollouts_decided(played.stdout)
    for step in cluster_only:   # still shown, so the learner reads what a cluster would do
        heading = step.text.splitlines()[0].lstrip("# ").strip()
        assert heading in shown, step.name
    # Checks of their own that need a cluster (in-mesh ones) are skipped, and the result says so.
    with_cluster_checks = [s for s in steps if s not in cluster_only and any("k3d" in c.spec.backends for c in s.check)]
    assert shown.count("more check(s) need k3d or minikube; skipped on the local lab") == len(with_cluster_checks)
    # A check that sends a header names it, beside its chart and in its result.
    gateway_checks = [c.traffic for s in steps if s not in cluster_only for c in s.check
                      if c.traffic and c.traffic.from_ != "mesh"]
    for check in gateway_checks:
        sent = ", ".join(f"{k}: {v}" for k, v in ((check.request and check.request.headers) or {}).items())
        assert not sent or shown.count(f"with {sent}:") >= 2, sent


def assert_both_rollouts_decided(stdout: str) -> None:
    decisions = [line for line in stdout.splitlines() if line.startswith("step ") and " — " in line]
    promoted = [line.split(" — ")[0] for line in decisions if line.endswith(": promote")]
    assert promoted[:3] == ["step 1/3: canary 25%", "step 2/3: canary 50%", "step 3/3: canary 100%"], stdout
    assert "scaled Deployment shop-auto/shop-v1 to 0 replicas" in stdout
    rolled_back = [line for line in decisions if line.endswith(": roll back")]
    assert len(rolled_back) == 1 and rolled_back[0].startswith("step 1/3: canary 25% — errors ") \
        and "> 1%" in rolled_back[0], stdout
    assert "rollback: weights set to v2 100%, v3 0%" in stdout


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_every_unsolved_learner_step_fails_its_check(lab, name, request):
    exercise = load_exercise(name)
    skip_without_helm_if_it_uses_helm(exercise, request)
    paths = lab_paths()
    backend = current_backend(paths)
    for index, step in enumerate(exercise.steps):
        if step.kind != "task" or (step.backends and "local" not in step.backends):
            continue
        walkthrough = Walkthrough(exercise, backend, paths, yes=True)
        walkthrough.reset()            # no progress, no working copies: earlier tasks replay their solutions
        for earlier in exercise.steps[:index]:
            walkthrough.progress.mark_done(name, earlier.name)
        walkthrough.restore(index)     # the lab as the learner finds it at this step
        result = run_check(exercise, step, backend)
        assert not result.passed, f"{name}/{step.name} passes without the learner doing anything"


def test_exercises_come_in_learning_order_and_every_folder_is_listed():
    assert NAMES == ["testers-first", "canary", "sticky", "progressive", "promote", "rollback", "in-mesh", "autoscale",
                     "cross-namespace", "metrics", "resilience", "mirror", "auto-rollout", "debug",
                     "testers-first-gateway-api", "canary-gateway-api", "progressive-gateway-api",
                     "promote-gateway-api",
                     "rollback-gateway-api", "in-mesh-gateway-api", "autoscale-gateway-api",
                     "cross-namespace-gateway-api",
                     "resilience-gateway-api", "mirror-gateway-api"]
    # header routing and route order come before weights, and before weight arithmetic over several objects
    assert NAMES.index("testers-first") < NAMES.index("canary") < NAMES.index("progressive") < NAMES.index("promote")
    folders = sorted(p.parent.name for p in EXERCISES_DIR.glob("*/exercise.yaml"))
    assert sorted(NAMES) == folders


def test_each_gateway_api_variant_the_catalogue_lists_is_an_exercise_in_that_api():
    names = gateway_api_names()
    assert "autoscale" in names
    for name in names:
        assert name in NAMES and f"{name}-gateway-api" in NAMES
        variant = load_exercise(f"{name}-gateway-api")
        applied = [obj for step in variant.steps
                   for path in [*step.manifests,
                                *([step.solution] if step.solution and not step.helm and not step.patch else [])]
                   for obj in load_manifest_file(path)]   # a patch step's solution is a JSON patch, not objects
        applied += [obj for step in variant.steps if step.helm for obj in
                    render(step.helm.chart, step.helm.release, step.helm.namespace,
                           [step.solution] if step.solution else list(step.values))]
        groups = {str(obj["apiVersion"]).split("/")[0] for obj in applied if obj["kind"] in ("Gateway", "HTTPRoute")}
        kinds = {obj["kind"] for obj in applied}
        assert groups == {"gateway.networking.k8s.io"} and "HTTPRoute" in kinds, name
        # A DestinationRule stays allowed for a Service's traffic policy (outlier detection, load balancing:
        # the Gateway API has none), not for subsets, which are routing by Istio's API.
        subsets = [obj for obj in applied
                   if obj["kind"] == "DestinationRule" and (obj.get("spec") or {}).get("subsets")]
        assert "VirtualService" not in kinds and not subsets, f"{name}-gateway-api still routes with Istio's API"


@pytest.mark.parametrize("change, complaint", [
    (("{httpbin: 80, tornado: 20}", "{httpbin: 80, tornado: 10}"),
     "steps[3] (shift-20).check[0].traffic.expect: expected shares add up to 90, not 100"),
    (("{traffic: {expect: {httpbin: 80, tornado: 20}, about", "{trafic: {expect: {httpbin: 80, tornado: 20}, about"),
     "steps[3] (shift-20).check[0].trafic: unknown key; did you mean 'traffic'?"),
    (("{traffic: {expect: {httpbin: 80, tornado: 20}, about",
      "{traffic: {tolerence: 5, expect: {httpbin: 80, tornado: 20}, about"),
     "steps[3] (shift-20).check[0].traffic.tolerence: unknown key; did you mean 'tolerance'?"),
    (("{traffic: {expect: {httpbin: 80, tornado: 20}, about", "{traffic: {expect: {httpbin: 80, tomcat: 20}, about"),
     "step shift-20: check names tomcat, not a destination (httpbin, tornado)"),
    (("{websocket: {path: /websocket, connections: 10, messages: 3, expect: {tornado: 100}}}",
      "{websocket: {connections: many}}"),
     "steps[2] (baseline).check[1].websocket.connections: Input should be a valid integer"),
    (("format: 1\n", "format: 2\n"), "format: Input should be 1"),
    ((", service: tornado.canary-lab}", "}"), "destinations.tornado.service: Field required"),
    (("kind: task", "kind: tusk"), "steps[3] (shift-20).kind: Input should be"),
    (("    solution: solutions/virtualservice-80-20.yaml", "    hints_for: {weights-swaped: swap them}\n"
                                                         "    solution: solutions/virtualservice-80-20.yaml"),
     "steps[3] (shift-20).hints_for: no diagnosis is called weights-swaped"),
    (('      answer: "no: each request is drawn afresh, so one browser sees both, about 4 to 1"',
      '      answer: "maybe"'),
     "steps[4] (predict-affinity).question: 'maybe' is not one of the choices"),
    (("    kind: question\n", "    kind: explain\n"), "steps[4] (predict-affinity): a explain step has no question"),
    (("      why_not:\n        \"yes: once", "      why_nt:\n        \"yes: once"),
     "steps[4] (predict-affinity).question.why_nt: unknown key; did you mean 'why_not'?"),
    # What a check spec must refuse at load, not when a learner reaches the step (issue 25's survivors):
    (("{httpbin: 80, tornado: 20}", "{httpbin: 80, tornado: 19.5}"),
     "steps[3] (shift-20).check[0].traffic.expect: expected shares add up to 99.5, not 100"),
    (("{httpbin: 80, tornado: 20}", "{httpbin: 120, tornado: -20}"),          # adds up to 100, still wrong
     "steps[3] (shift-20).check[0].traffic.expect: each expected share is 0 to 100"),
    (("{title: tornado WebSocket example, service: tornado.canary-lab}", "{service: tornado.canary-lab}"),
     "destinations.tornado: give exactly one of title, header or body"),
    (("{title: tornado WebSocket example, service: tornado.canary-lab}",
      "{title: tornado WebSocket example, body: tornado, service: tornado.canary-lab}"),
     "destinations.tornado: give exactly one of title, header or body"),
    (("check: {websocket: {path: /websocket, connections: 10, messages: 3, expect: {tornado: 100}}}", "check: {}"),
     "steps[5] (websocket).check[0]: a check is exactly one of traffic, websocket"),
    (('        - "yes, if a DestinationRule adds consistent hashing on a cookie"\n', '        - "quit"\n'),
     "steps[4] (predict-affinity).question: a choice is empty or 'quit' (the menu's own way out)"),
    (('        "yes: once a client lands on an app it stays there": >-',
      '        "no: each request is drawn afresh, so one browser sees both, about 4 to 1": >-'),
     "steps[4] (predict-affinity).question: why_not explains a right answer"),
    # The requests a check is about, and where a WebSocket route must send its path.
    (("about: {except: [/websocket]}", "about: {except: [websocket]}"),
     "steps[2] (baseline).check[0].traffic.about.except: path 'websocket' is not /PATH, /PATH/* or /* (every path)"),
    (("about: {except: [/websocket]}", "about: {paths: []}"),
     "steps[2] (baseline).check[0].traffic.about.paths: give at least one path"),
    (("expect: {tornado: 100}}}\n  - name: predict", "expect: {tornado: 90}}}\n  - name: predict"),
     "steps[3] (shift-20).check[1].websocket.expect: expected shares add up to 90, not 100"),
    (("expect: {tornado: 100}}}\n  - name: predict", "expect: {tomcat: 100}}}\n  - name: predict"),
     "step shift-20: check names tomcat, not a destination (httpbin, tornado)"),
    (("{traffic: {expect: {httpbin: 80, tornado: 20}, about",
      "{traffic: {by: pods, expect: {httpbin: 80, tornado: 20}, about"),
     "steps[3] (shift-20).check[0].traffic.by: Input should be 'weights' or 'weights-or-pods'"),
])
def test_a_wrong_exercise_file_fails_at_load_in_one_line_naming_file_and_field(tmp_path, change, complaint):
    shutil.copytree(EXERCISES_DIR / "canary", tmp_path / "canary")
    shutil.copyfile(EXERCISES_DIR / "catalogue.yaml", tmp_path / "catalogue.yaml")
    spec = tmp_path / "canary" / "exercise.yaml"
    old, new = change
    assert old in spec.read_text()
    spec.write_text(spec.read_text().replace(old, new, 1))
    with pytest.raises(LabError) as raised:
        load_exercise("canary", tmp_path)
    message = str(raised.value.message)
    assert "canary/exercise.yaml: " in message and complaint in message, message
    assert "\n" not in message
