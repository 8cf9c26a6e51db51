"""Damaged state through the real `invoke`: each file the lab keeps, in each damaged shape, makes
`status` and `up` say in one line which file and how to recover (exit 1, never 3), and the file is
kept as it was, never read as empty and written over. Once it is put back, the lab serves what is
stored."""

import json
import urllib.request

import pytest
import yaml

from lab.config import EXERCISES_DIR
from lab.envoy_admin import EnvoyAdmin
from lab.state import load_state
from tests.lab_process import new_lab

pytestmark = pytest.mark.slow

MANIFESTS = EXERCISES_DIR / "canary" / "manifests"
AN_OBJECT = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x"}}

# (file under .lab/, damaged bytes, what the line says about it)
CASES = [
    ("run/objects.json", b"[]", "objects.json is damaged"),
    ("run/objects.json", b"null", "objects.json is damaged"),
    ("run/objects.json", b'{"Namespace//x": 5}', "objects.json is damaged"),
    ("run/objects.json", json.dumps({"x": AN_OBJECT}).encode(), "is not KIND/NAMESPACE/NAME"),
    ("run/objects.json", json.dumps({"Namespace//x": {"apiVersion": "v1", "kind": "Namespace"}}).encode(),
     "metadata"),
    ("run/objects.json", json.dumps({"Namespace//y": AN_OBJECT}).encode(), "the object under 'Namespace//y'"),
    ("run/objects.json", b'{"Namespace//x": {"apiVersion": "v1", \xff}', "objects.json is damaged"),
    ("run/objects.json", b'{"Namespace//x": ', "objects.json is damaged"),
    ("run/desired.json", b'{"processes": 5}', "desired.json is damaged"),
    ("run/desired.json", b"[]", "desired.json is damaged"),
    ("run/desired.json", b'{"generation": 1, "processes": {"gateway": {"argv": "envoy"}}}', "desired.json is damaged"),
    ("run/status.json", b'{"processes": []}', "status.json is damaged"),
    ("run/status.json", b'{"generation": 1, "processes": {"gateway": {"state": "sleeping"}}}',
     "status.json is damaged"),
    ("run/pending.json", b'{"pid": "x"}', "pending.json is damaged"),
    ("run/pending.json", b"[]", "pending.json is damaged"),
    ("progress.json", b'{"exercises": {"canary": {"done": 5}}}', "progress.json is damaged"),
    ("progress.json", b'{"exercises": []}', "progress.json is damaged"),
    ("progress.json", b"\xff\xfe", "progress.json is damaged"),
    ("state.json", b'{"provider": "local", "gateway_port": "x"}', "state.json is damaged"),
]
FIXES = {"objects.json": "repair it, or delete it", "desired.json": "delete it, then `invoke up`",
         "status.json": "delete it, then `invoke up`", "pending.json": "`invoke up` serves the stored objects again",
         "progress.json": "repair or delete that file", "state.json": "repair or delete that file"}


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    lab = new_lab(tmp_path_factory.mktemp("bad-state"))
    try:
        lab.invoke("up", "--provider", "local")
        lab.invoke("apply", str(MANIFESTS / "gateway.yaml"))
        lab.invoke("apply", str(MANIFESTS / "virtualservice.yaml"))
        lab.paths.progress_file.write_text(json.dumps({"exercises": {"canary": {"done": ["intro"]}}}))
        yield lab
    finally:
        lab.cleanup()


def serves_what_is_stored(lab) -> bool:
    stored = json.loads((lab.paths.run_dir / "objects.json").read_text())
    admin = EnvoyAdmin(f"http://127.0.0.1:{load_state(lab.paths).settings['admin_port']}")
    [main] = [r for r in admin.live_routes() if r.host == "canary.lab.local" and r.match == "uri /*"]
    wanted = stored["VirtualService/canary-lab/canary"]["spec"]["http"][1]["route"]
    request = urllib.request.Request(lab.url + "/get", headers={"Host": "canary.lab.local"})
    with urllib.request.urlopen(request, timeout=5) as answer:
        return answer.status == 200 and [d.service.split(".")[0] for d in main.destinations] == \
            [r["destination"]["host"] for r in wanted]


def one_line(result) -> str:
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 1, (result.returncode, result.stdout, result.stderr)
    assert len(lines) == 1 and "Traceback" not in result.stdout + result.stderr and "unexpected" not in lines[0], \
        result.stderr
    return lines[0]


@pytest.mark.parametrize("name, damaged, phrase", CASES, ids=[f"{c[0]}:{c[1][:40]!r}" for c in CASES])
def test_damaged_state_is_named_kept_and_never_written_over(lab, name, damaged, phrase):
    path = lab.paths.home / name
    good = path.read_bytes() if path.exists() else None
    path.write_bytes(damaged)
    try:
        for command in (["status"], ["up"], ["apply", str(MANIFESTS / "gateway.yaml")]):
            if name == "run/pending.json" and command != ["status"]:
                continue          # up and apply recover from it (below)
            if name == "progress.json" and command[0] == "apply":
                continue          # an apply does not read progress
            line = one_line(lab.invoke(*command, check=False))
            assert phrase in line and FIXES[path.name] in line, line
            assert path.read_bytes() == damaged, f"`invoke {command[0]}` wrote over {name}"
    finally:
        if good is None:
            path.unlink()
        else:
            path.write_bytes(good)
    assert serves_what_is_stored(lab)


def test_a_damaged_pending_record_is_recovered_by_up_as_it_says(lab):
    pending = lab.paths.run_dir / "pending.json"
    pending.write_text('{"pid": "x"}')
    assert "pending.json is damaged" in one_line(lab.invoke("status", check=False))
    lab.invoke("up")
    assert not pending.exists() and "damaged" not in lab.invoke("status").stdout
    assert serves_what_is_stored(lab)


def test_a_deleted_desired_file_is_said_by_status_and_healed_by_up(lab):
    desired = lab.paths.run_dir / "desired.json"
    desired.unlink()
    assert "desired.json is missing" in " ".join(lab.invoke("status").stdout.split())
    lab.invoke("up")
    assert desired.exists() and "gateway" in json.loads(desired.read_text())["processes"]
    assert serves_what_is_stored(lab)
    assert "nothing changed" in lab.invoke("up").stdout


def test_an_objects_file_deleted_by_hand_is_an_empty_store_and_status_says_the_gateway_serves_more(lab):
    objects = lab.paths.run_dir / "objects.json"
    kept = objects.read_text()
    objects.unlink()
    try:
        status = " ".join(lab.invoke("status").stdout.split())
        assert "the gateway serves other routes than the stored objects make" in status
        assert "canary" not in lab.invoke("get", "vs").stdout
    finally:
        objects.write_text(kept)
    assert "serves other routes" not in lab.invoke("status").stdout
    assert serves_what_is_stored(lab)


def test_every_shape_is_in_the_table():
    """The report's shapes: objects.json keys, a number, non-UTF-8, [] and null, no metadata;
    desired.json 5 and a list (and deleted, above); status.json []; pending.json pid x; progress done 5."""
    shapes = {(name, damaged) for name, damaged, _ in CASES}
    assert ("run/objects.json", b"[]") in shapes and ("run/objects.json", b"null") in shapes
    assert ("run/desired.json", b'{"processes": 5}') in shapes and ("run/status.json", b'{"processes": []}') in shapes
    assert ("run/pending.json", b'{"pid": "x"}') in shapes
    assert yaml.safe_load(b'{"exercises": {"canary": {"done": 5}}}')["exercises"]["canary"]["done"] == 5
