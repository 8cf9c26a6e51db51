"""The catalogue's self-test (like rustlings' dev check): every exercise loads, its files
exist, its manifests and patches are ones the lab accepts, and on the local lab every
solution passes its check and every unsolved learner step fails it."""

import os

import pytest

from lab.backends.local.schema import check_supported
from lab.backends.select import current_backend
from lab.config import gateway_tls_port, lab_paths
from lab.exercises.catalogue import exercise_names, load_exercise
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
        assert step.text.strip(), f"{name}/{step.name} has no text"
        if step.kind == "task":
            assert step.hints, f"{name}/{step.name} has no hint"
        plain = not step.patch and not step.helm
        files = [*step.manifests] + ([step.solution] if step.solution and plain else []) + \
            ([step.workfile] if step.workfile and plain else [])
        objects = [obj for path in files for obj in load_manifest_file(path)]
        if step.helm:
            for values in [step.values] + [[f] for f in (step.solution, step.workfile) if f]:
                objects += render(step.helm.chart, step.helm.release, step.helm.namespace, list(values))
        checks = step.check if isinstance(step.check, list) else [step.check] if step.check else []
        objects += [obj for check in checks for spec in check.values() if isinstance(spec, dict) and "load" in spec
                    for obj in load_manifest_file(exercise.folder / spec["load"])]
        local = not step.backends or "local" in step.backends
        for obj in objects:
            if local:
                check_supported(obj)   # cluster-only steps' files are checked by test_manifests_valid
            validate(obj)
        if step.patch:
            load_patch(step.solution)
            load_patch(step.workfile)


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
    for step in cluster_only:   # still shown, so the learner reads what a cluster would do
        heading = step.text.splitlines()[0].lstrip("# ").strip()
        assert heading in shown, step.name
    # Checks of their own that need a cluster (in-mesh ones) are skipped, and the result says so.
    with_cluster_checks = [s for s in steps if s not in cluster_only and isinstance(s.check, list)
                           and any("k3d" in (next(iter(c.values())).get("backends") or []) for c in s.check)]
    assert shown.count("more check(s) need k3d or minikube; skipped on the local lab") == len(with_cluster_checks)
    # A check that sends a header names it, beside its chart and in its result.
    gateway_checks = [c["traffic"] for s in steps if s not in cluster_only
                      for c in (s.check if isinstance(s.check, list) else [s.check])
                      if isinstance(c, dict) and "traffic" in c and c["traffic"].get("from") != "mesh"]
    for check in gateway_checks:
        sent = ", ".join(f"{k}: {v}" for k, v in (check.get("request") or {}).get("headers", {}).items())
        assert not sent or shown.count(f"with {sent}:") >= 2, sent


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
