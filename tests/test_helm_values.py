"""`invoke helm` on the local lab keeps values as helm does (pkg/action/upgrade.go reuseValues),
and nothing a values file or a flag holds can reach the YAML, the host or a path outside the lab.
Real helm renders; a backend that records what it is asked to apply stands in for the lab."""

import os
import shutil

import pytest
import yaml

from lab.config import EXERCISES_DIR
from lab.errors import LabError
from lab.helm import load_record, render, upgrade
from lab.manifests import MAX_APPLY_BYTES, Ref, ref_of

CHARTS = [EXERCISES_DIR / "cross-namespace" / "chart" / "traffic-manager",
          EXERCISES_DIR / "cross-namespace-gateway-api" / "chart" / "traffic-manager"]
CHART = CHARTS[0]


class RecordingBackend:
    """What upgrade asks of a backend: apply (the objects kept by Ref) and delete."""

    def __init__(self) -> None:
        self.objects: dict[Ref, dict] = {}

    def apply(self, objects: list[dict]) -> list[str]:
        self.objects.update({ref_of(obj): obj for obj in objects})
        return [f"{ref_of(obj)} applied" for obj in objects]

    def delete(self, refs: list[Ref]) -> None:
        for ref in refs:
            self.objects.pop(ref, None)


def routes(backend: RecordingBackend) -> list[str]:
    [vs] = [o for r, o in backend.objects.items() if r.kind == "VirtualService"]
    return [route["name"] for route in vs["spec"]["http"]]


def values_file(tmp_path, text: str, name: str = "values.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_an_upgrade_with_no_values_keeps_the_last_releases_values(lab_root, tmp_path, helm):
    backend = RecordingBackend()
    upgrade(backend, CHART, "tm", "traffic", [values_file(tmp_path, "canary: {enabled: true, weight: 10}\n")])
    assert routes(backend) == ["canary-by-header", "weighted"]
    again = upgrade(backend, CHART, "tm", "traffic")      # helm upgrade tm CHART: no --values, no --set
    assert routes(backend) == ["canary-by-header", "weighted"]
    assert "(revision 2)" in again[0]
    upgrade(backend, CHART, "tm", "traffic", settings=["mtls.strict=false"])   # any value: the chart's defaults
    assert routes(backend) == ["stable"]


def test_reuse_values_puts_a_new_values_file_over_the_last_values(lab_root, tmp_path, helm):
    backend = RecordingBackend()
    upgrade(backend, CHART, "tm", "traffic", [values_file(tmp_path, "canary: {enabled: true, weight: 10}\n")])
    upgrade(backend, CHART, "tm", "traffic", [values_file(tmp_path, "canary: {weight: 60}\n", "new.yaml")],
            reuse_values=True)
    [vs] = [o for r, o in backend.objects.items() if r.kind == "VirtualService"]
    weighted = next(route for route in vs["spec"]["http"] if route["name"] == "weighted")
    assert [d["weight"] for d in weighted["route"]] == [40, 60]          # the new file's weight, the old enabled
    assert load_record("tm", "traffic").values == {"canary": {"enabled": True, "weight": 60}}


def test_each_upgrade_is_a_new_revision(lab_root, tmp_path, helm):
    backend = RecordingBackend()
    lines = [upgrade(backend, CHART, "tm", "traffic")[0] for _ in range(3)]
    assert [line.split("(revision ")[1] for line in lines] == ["1)", "2)", "3)"]
    assert "installed" in lines[0] and "upgraded" in lines[2]
    assert load_record("tm", "traffic").revision == 3


@pytest.mark.parametrize("namespace", ["x/../../outside", "/tmp/abs", "..", "Traffic", "a" * 64, "tr affic"])
def test_a_namespace_that_is_not_a_name_is_refused_before_any_path_is_made(lab_root, tmp_path, helm, namespace):
    with pytest.raises(LabError, match="is not a DNS-1123 label"):
        upgrade(RecordingBackend(), CHART, "tm", namespace)
    assert not list(tmp_path.rglob("*tm.json")) and not os.path.exists("/tmp/abs.tm.json")


@pytest.mark.parametrize("release", ["../x", "TM", "tm_1", "a" * 54, ""])
def test_a_release_name_helm_refuses_is_refused(lab_root, helm, release):
    with pytest.raises(LabError, match="refused by helm"):
        upgrade(RecordingBackend(), CHART, release, "traffic")


def test_values_from_an_endless_device_stop_at_the_limit(lab_root, helm):
    with pytest.raises(LabError, match=f"more than {MAX_APPLY_BYTES // 1024} KB"):
        render(CHART, "tm", "traffic", ["/dev/zero"])


def test_values_from_a_named_pipe_are_refused_without_waiting(lab_root, tmp_path, helm):
    pipe = tmp_path / "values.fifo"
    os.mkfifo(pipe)
    with pytest.raises(LabError, match="named pipe"):
        render(CHART, "tm", "traffic", [pipe])


def test_an_alias_bomb_in_values_is_refused_before_helm_expands_it(lab_root, tmp_path, helm):
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{n}: &{n} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n"
        for p, n in zip("abcde", "bcdef", strict=True))
    with pytest.raises(LabError, match="aliases are expanded"):
        render(CHART, "tm", "traffic", [values_file(tmp_path, bomb)])


INJECTION = "x-track:\n              exact: a\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: evil}\n#"


@pytest.mark.parametrize("chart", CHARTS, ids=["istio", "gateway-api"])
def test_a_value_that_would_inject_yaml_is_refused_by_the_charts_schema(lab_root, tmp_path, helm, chart):
    values = values_file(tmp_path, yaml.safe_dump({"canary": {"enabled": True, "header": {"name": INJECTION}}}))
    with pytest.raises(LabError, match="does not match pattern"):
        render(chart, "tm", "traffic", [values])


@pytest.mark.parametrize("chart", CHARTS, ids=["istio", "gateway-api"])
@pytest.mark.parametrize("field", ["header.name", "header.value", "service", "namespace"])
def test_every_value_is_quoted_so_even_without_a_schema_it_stays_one_value(lab_root, tmp_path, helm, chart, field):
    unchecked = tmp_path / "chart"
    shutil.copytree(chart, unchecked)
    (unchecked / "values.schema.json").unlink()
    key, _, sub = field.partition(".")
    canary: dict = {"enabled": True, "weight": 10}
    canary[key] = {sub: INJECTION} if sub else INJECTION
    values = values_file(tmp_path, yaml.safe_dump({"canary": canary, "referenceGrant": {"enabled": True}}))
    objects = render(unchecked, "tm", "traffic", [values])     # valid YAML, whatever the value holds
    assert "Deployment" not in {obj["kind"] for obj in objects}
    assert any(INJECTION in text for obj in objects for text in strings(obj))   # the whole value, in one string


def strings(value: object) -> list[str]:
    """Every string in a value, keys too."""
    if isinstance(value, dict):
        return [text for k, v in value.items() for text in (k, *strings(v))]
    if isinstance(value, list):
        return [text for item in value for text in strings(item)]
    return [value] if isinstance(value, str) else []
