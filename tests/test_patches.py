"""JSON patches as `kubectl patch --type json` takes them (RFC 6902), read and applied within the
lab's limits: a patch can no more grow an object past them than an apply can."""

import time

import pytest

from lab.errors import ManifestError
from lab.manifests import MAX_DEPTH, MAX_VALUES
from lab.patches import apply_patch, parse_patch

VS = {"apiVersion": "networking.istio.io/v1", "kind": "VirtualService",
      "metadata": {"name": "canary", "namespace": "canary-lab", "annotations": {"note": "x"}},
      "spec": {"hosts": ["canary.lab.local"], "http": [{"route": [
          {"destination": {"host": "httpbin"}, "weight": 80}, {"destination": {"host": "tornado"}, "weight": 20}]}]}}


@pytest.mark.parametrize("text, phrase", [
    ("[]", "non-empty list of operations"),
    ("", "non-empty list of operations"),
    ("{op: replace, path: /spec, value: 1}", "non-empty list of operations"),
    ("- {op: replace, path: spec/http, value: 1}", "path 'spec/http' is not a JSON pointer starting with /"),
    ("- {op: add, path: '', value: {}}", "is not a JSON pointer starting with /"),
    ("- {op: copy, from: spec, path: /spec/x}", "from 'spec' is not a JSON pointer"),
    ("- {op: merge, path: /spec}", "needs op"),
    ("- {op: replace, path: /spec/hosts}", "has no value"),
    ("- {op: move, path: /spec/x}", "is not a JSON pointer"),
    ("- [op, replace]", "needs op"),
    ("a: " + "[" * 2000 + "]" * 2000, "nested too deeply"),
    ("- {op: add, path: /x, value: " + "[" * 60 + "]" * 60 + "}", f"nested more than {MAX_DEPTH} levels"),
    ("- {op: add, path: /a, value: 1}\n---\n- {op: add, path: /b, value: 1}", "non-empty list of operations"),
], ids=["empty", "nothing", "not-a-list", "path-without-slash", "whole-document", "from-without-slash", "unknown-op",
        "replace-without-value", "move-without-from", "not-a-mapping", "nested-2000", "nested-60", "two-documents"])
def test_a_patch_kubectl_would_refuse_is_refused_in_one_line(text, phrase):
    with pytest.raises(ManifestError) as refused:
        parse_patch(text, "--patch")
    assert phrase in str(refused.value)


def test_the_test_operation_guards_a_patch_as_rfc_6902_says():
    passing = parse_patch("- {op: test, path: /spec/http/0/route/0/weight, value: 80}\n"
                          "- {op: replace, path: /spec/http/0/route/0/weight, value: 50}\n"
                          "- {op: replace, path: /spec/http/0/route/1/weight, value: 50}\n", "--patch")
    assert [r["weight"] for r in apply_patch(VS, passing, "VirtualService canary-lab/canary")["spec"]["http"][0]
            ["route"]] == [50, 50]
    failing = parse_patch("- {op: test, path: /spec/http/0/route/0/weight, value: 70}\n"
                          "- {op: replace, path: /spec/http/0/route/0/weight, value: 50}\n", "--patch")
    with pytest.raises(ManifestError, match="operation 1 \\(test"):
        apply_patch(VS, failing, "VirtualService canary-lab/canary")
    assert VS["spec"]["http"][0]["route"][0]["weight"] == 80    # the object given is never changed


def test_copies_that_double_an_object_stop_at_the_limit_quickly():
    """Forty copies of what doubles each time would be a trillion values; the 530-byte alias patch
    of the report grew the store to 48 MB."""
    operations = [{"op": "copy", "from": "/spec", "path": f"/spec/m{i}"} for i in range(40)]   # each doubles /spec
    started = time.monotonic()
    with pytest.raises(ManifestError, match=f"more than {MAX_VALUES} values"):
        apply_patch(VS, operations, "VirtualService canary-lab/canary")
    assert time.monotonic() - started < 2


def test_an_alias_bomb_in_a_patch_is_refused_when_read():
    bomb = "- {op: add, path: /metadata/annotations/x, value: &a [x, x, x, x, x, x, x, x, x, x]}\n" + "".join(
        f"- {{op: add, path: /metadata/annotations/{n}, value: &{n} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, "
        f"*{p}, *{p}]}}\n" for p, n in zip("abcde", "bcdef", strict=True))
    with pytest.raises(ManifestError, match="aliases are expanded"):
        parse_patch(bomb.replace("&a [", "&a [", 1), "--patch")


def test_a_long_string_copied_past_a_megabyte_is_refused():
    operations = [{"op": "add", "path": "/metadata/annotations/big", "value": "x" * 200_000}] + [
        {"op": "copy", "from": "/metadata/annotations/big", "path": f"/metadata/annotations/c{i}"} for i in range(6)]
    with pytest.raises(ManifestError, match="KB of text"):
        apply_patch(VS, operations, "VirtualService canary-lab/canary")


def test_a_move_deeper_than_the_limit_is_refused():
    deep: dict = {}
    inner = deep
    for _ in range(MAX_DEPTH - 6):
        inner["d"] = {}
        inner = inner["d"]
    start = apply_patch(VS, [{"op": "add", "path": "/spec/deep", "value": deep}], "VS")
    with pytest.raises(ManifestError, match="nested more than"):
        apply_patch(start, [{"op": "add", "path": "/spec/a", "value": {"b": {"c": {"d": {}}}}},
                            {"op": "move", "from": "/spec/deep", "path": "/spec/a/b/c/d/e"}], "VS")


def test_a_patch_that_replaces_the_whole_object_is_refused():
    with pytest.raises(ManifestError, match="replaces the whole of"):
        apply_patch(VS, [{"op": "replace", "path": "", "value": [1]}], "VS")
