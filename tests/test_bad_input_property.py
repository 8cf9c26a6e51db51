"""Generated bad input (hypothesis): manifests and JSON patches made by changing any field of the
lab's own objects to any value. For each: the lab takes it (exit 0) or refuses it in one line
(exit 1); never "a bug in canary-lab" (exit 3); and afterwards the gateway serves exactly what is
stored. The real local lab runs (Envoy, the sample apps); the command's work runs in this process
through the lab's own error handler (lab/edge.py), which is what makes the exit code.

Run time is bounded: MANIFESTS and PATCHES examples, 37-57 s together on this 2-core machine
(three runs of 150 + 150). The first run found a patch removing /kind crashing the lab (exit 3)
and a field name with a line break breaking the one line; both are fixed."""

import copy
import json

import pytest
import yaml
from hypothesis import HealthCheck, given, settings, strategies as st

from lab import ui
from lab.backends.local.backend import LocalBackend
from lab.edge import EXIT_ERROR, Failed, guarded
from lab.manifests import parse_manifests, ref_of
from lab.patches import parse_patch
from lab.state import load_state
from tests.lab_process import new_lab
from tests.test_bad_input_table import DEPLOYMENT, GATEWAY, RULE, SERVICE, VS

pytestmark = pytest.mark.slow

MANIFESTS = 150
PATCHES = 150
BASE = [GATEWAY, VS, RULE, SERVICE, DEPLOYMENT]

WORDS = st.sampled_from(["", "v1", "v2", "80", "8000", "httpbin", "canary-lab", "canary.lab.local", "*", "a/b", "..",
                         "/", "/get", "\r\n", "x\0y", "Ünïcode", "LD_PRELOAD", "APP_X", "100", "-1", "true", "null"])
SCALARS = (st.none() | st.booleans() | st.integers(-5, 70_000) | st.floats(allow_nan=True, allow_infinity=True)
           | st.text(max_size=12) | WORDS)
VALUES = st.recursive(SCALARS, lambda inner: st.lists(inner, max_size=3)
                      | st.dictionaries(st.text(max_size=8) | WORDS, inner, max_size=3), max_leaves=6)


def paths(value: object, prefix: tuple = ()) -> list[tuple]:
    """Every path into a value (keys and list indexes), the value itself first."""
    found = [prefix]
    if isinstance(value, dict):
        for key, item in value.items():
            found += paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found += paths(item, (*prefix, index))
    return found


@st.composite
def changed_object(draw) -> dict:
    """One of the lab's objects with one field set to anything, removed, or a key added."""
    obj = copy.deepcopy(draw(st.sampled_from(BASE)))
    path = draw(st.sampled_from(paths(obj)[1:]))
    parent = obj
    for part in path[:-1]:
        parent = parent[part]
    action = draw(st.sampled_from(["set", "remove", "add-key"]))
    if action == "remove":
        del parent[path[-1]]
    elif action == "add-key" and isinstance(parent[path[-1]], dict):
        parent[path[-1]][draw(st.text(max_size=10) | WORDS)] = draw(VALUES)
    else:
        parent[path[-1]] = draw(VALUES)
    return obj


def pointer(path: tuple) -> str:
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in path)


@st.composite
def patch(draw) -> list[dict]:
    """One to three operations on the VirtualService: any op, at a path into it (or made up), with any value."""
    operations = []
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["add", "remove", "replace", "move", "copy", "test"]))
        path = draw(st.sampled_from(paths(VS)[1:]).map(pointer) | st.text(max_size=10).map(lambda t: "/" + t))
        operation = {"op": op, "path": path}
        if op in ("add", "replace", "test"):
            operation["value"] = draw(VALUES)
        if op in ("move", "copy"):
            operation["from"] = draw(st.sampled_from(paths(VS)[1:]).map(pointer))
        operations.append(operation)
    return operations


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    lab = new_lab(tmp_path_factory.mktemp("property"))
    try:
        lab.invoke("up", "--provider", "local")
        lab.invoke("apply", "-", input=yaml.safe_dump_all([GATEWAY, VS, RULE]))
        yield lab
    finally:
        lab.cleanup()


def outcome(work) -> int:
    """The exit code the lab's edge gives `work` (0 when it returns), and its one line if refused."""
    try:
        guarded(work)()
    except Failed as e:
        return int(e.code)
    return 0


def one_line_refusal(work) -> None:
    """`work` either succeeds, or the edge says why in one line (exit 1); anything else is a bug."""
    with ui.err_console.capture() as said:
        code = outcome(work)
    assert code in (0, EXIT_ERROR), f"exit {code}: a bug: {said.get()}"
    lines = [line for line in said.get().splitlines() if line.strip()]
    assert len(lines) == (1 if code else 0), said.get()


def backend_of(lab) -> LocalBackend:
    return LocalBackend(lab.paths, load_state(lab.paths).gateway_port)


@settings(max_examples=MANIFESTS, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(obj=changed_object())
def test_any_changed_manifest_is_taken_or_refused_in_one_line_and_served_as_stored(lab, obj):
    backend = backend_of(lab)
    text = yaml.safe_dump(obj, allow_unicode=True)
    one_line_refusal(lambda: backend.apply(parse_manifests(text, "<generated>")))
    assert backend.serves_what_is_stored()
    backend.apply(copy.deepcopy(BASE))     # back to the lab's own objects for the next example


@settings(max_examples=PATCHES, deadline=None, database=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(operations=patch())
def test_any_patch_is_taken_or_refused_in_one_line_and_served_as_stored(lab, operations):
    backend = backend_of(lab)
    text = json.dumps(operations, ensure_ascii=False, allow_nan=True)
    one_line_refusal(lambda: backend.patch(ref_of(VS), parse_patch(text, "--patch")))
    assert backend.serves_what_is_stored()
    backend.apply([VS])
