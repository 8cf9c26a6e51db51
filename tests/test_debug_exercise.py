"""The debug exercise teaches by commands: on the lab as each fix step finds it, every command its
text and hints give runs, and shows the fault the text says it shows (through real Envoy)."""

import os
import re
import shlex

import pytest
import yaml

from lab.backends.select import current_backend
from lab.config import lab_paths
from lab.exercises.catalogue import load_exercise
from lab.exercises.walkthrough import Walkthrough
from tests.lab_process import new_lab

pytestmark = pytest.mark.slow

EXERCISE = load_exercise("debug")
FENCED = re.compile(r"```\n(.*?)```", re.S)
IN_HINT = re.compile(r"`(invoke [^`]+)`")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    lab = new_lab(tmp_path_factory.mktemp("debug"))
    lab.invoke("up", "--provider", "local")
    os.environ["CANARY_LAB_ROOT"] = str(lab.root)
    yield lab
    del os.environ["CANARY_LAB_ROOT"]
    lab.cleanup()


def as_found(step_name: str) -> None:
    """The lab as the learner finds the step: every step before it done, the releases applied."""
    paths = lab_paths()
    walkthrough = Walkthrough(EXERCISE, current_backend(paths), paths, yes=True)
    index = [s.name for s in EXERCISE.steps].index(step_name)
    walkthrough.reset()
    for earlier in EXERCISE.steps[:index]:
        walkthrough.progress.mark_done(EXERCISE.name, earlier.name)
    walkthrough.restore(index)


def commands(step_name: str) -> list[str]:
    step = EXERCISE.step(step_name)
    fenced = [line.strip() for block in FENCED.findall(step.text) for line in block.splitlines()]
    return [c for c in fenced + [c for hint in step.hints for c in IN_HINT.findall(hint)] if c.startswith("invoke ")]


def run(lab, command: str) -> str:
    args = shlex.split(command)[1:]
    if args[0] == "watch":
        args += ["--count", "3"]       # a learner stops it with Ctrl-C
    return lab.invoke(*args).stdout


def shown(lab, step_name: str) -> dict[str, str]:
    as_found(step_name)
    return {command: run(lab, command) for command in commands(step_name)}


def test_a_subset_with_no_pods_shows_as_503_uh_and_in_the_labels(lab):
    out = shown(lab, "fix-subset")
    traffic = next(v for k, v in out.items() if k.startswith("invoke traffic"))
    assert re.search(r"503 ×\d+ — no healthy upstream \(UH\)", traffic), traffic
    rule = yaml.safe_load(out["invoke get dr shop -n shop-debug"])
    v2 = next(s for s in rule["spec"]["subsets"] if s["name"] == "v2")
    pods = yaml.safe_load(out["invoke get deploy shop-v2 -n shop-debug"])["spec"]["template"]["metadata"]["labels"]
    assert not v2["labels"].items() <= pods.items()     # the subset asks for labels the pods lack


def test_a_catch_all_first_shows_testers_getting_v1_and_the_gateway_serving_the_catch_all_alone(lab):
    out = shown(lab, "fix-order")
    testers = next(v for k, v in out.items() if "X-Track:canary" in k and "traffic" in k)
    assert "with X-Track: canary" in testers and re.search(r"version v1 .* \d+ ", testers), testers
    # istiod stops at a VirtualService's first catch-all (route.go): the testers route never reaches
    # the gateway, on a cluster as here, and the text says `invoke status` lists `everyone` alone.
    routes = [line for line in out["invoke status"].splitlines() if "debug.lab.local" in line]
    assert len(routes) == 1 and "x-track" not in routes[0], routes
    assert "`invoke status` list `everyone` alone" in EXERCISE.step("fix-order").text


def test_swapped_weights_show_in_the_live_shares_and_in_the_route(lab):
    out = shown(lab, "fix-weights")
    watch = next(v for k, v in out.items() if k.startswith("invoke watch"))
    counts = {version: int(n) for version, n in re.findall(r"shop\.shop-debug \((v\d)\)\s+\S+\s+(\d+)\s+\d+%", watch)}
    assert counts.get("v2", 0) > counts.get("v1", 0), watch    # about 90 / 10 the wrong way round
    spec = yaml.safe_load(out["invoke get vs shop -n shop-debug"])["spec"]
    everyone = next(r for r in spec["http"] if r["name"] == "everyone")
    weights = {d["destination"]["subset"]: d["weight"] for d in everyone["route"]}
    assert weights == {"v1": 10, "v2": 90}


def test_every_fix_step_teaches_commands_first_and_gives_the_answer_last():
    for step in (s for s in EXERCISE.steps if s.kind == "task"):
        assert IN_HINT.search(step.hints[0]), f"{step.name}: the first hint names a command to run"
        assert not IN_HINT.search(step.hints[-1]), f"{step.name}: the last hint gives the fix, not another command"


def test_a_host_typo_in_the_virtualservice_is_accepted_and_answers_404_nr_as_on_a_cluster(lab):
    as_found("release-order")
    lab.invoke("apply", str(EXERCISE.folder / "manifests" / "broken-host.yaml"))
    traffic = lab.invoke("traffic", "--host", "debug.lab.local", "--requests", "10").stdout
    assert re.search(r"404 ×10 — no route for this host and path \(NR\)", traffic), traffic
