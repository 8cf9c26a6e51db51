"""The local lab warns, on apply, of a VirtualService rule that can never match, with Istio's own words
(IST0130; istio release-1.31 pkg/config/validation/validation.go, analyzeUnreachableHTTPRules). Cases
from Istio's analyzer test data (pkg/config/analysis/analyzers/testdata/virtualservice_dupmatches.yaml)
and debug's broken release."""

import yaml

from lab.backends.local.unreachable_rules import (
    unreachable_rule_notes,
    unreachable_rules,
)
from lab.config import EXERCISES_DIR
from lab.manifests import Ref, load_manifest_file
from tests.lab_process import running_lab


def test_a_named_rule_after_a_catch_all_is_reported_once_per_match_as_istio_words_it():
    http = yaml.safe_load("""
- name: everyone
  route: [{destination: {host: shop, subset: v1}}]
- name: testers
  match: [{headers: {x-track: {exact: canary}}}, {uri: {prefix: /beta}}]
  route: [{destination: {host: shop, subset: v2}}]
""")
    assert unreachable_rules(http) == [('"testers"', "route without matches defined before")] * 2


def test_a_second_catch_all_and_an_unnamed_rule_are_named_by_index():
    http = [{"route": []}, {"route": []}]
    assert unreachable_rules(http) == [("#1", "only the last rule can have no matches")]


def test_matches_that_differ_only_in_their_name_are_the_same_match():
    """Istio's "duplicate-match" case: the later rule's only match repeats the earlier one's."""
    http = yaml.safe_load("""
- name: send /api/v1/products to sample.foo
  match: [{name: prefix /api/v1/products, uri: {prefix: /api/v1/products}}]
- name: send /api/v1/products to sample.bar
  match: [{uri: {prefix: /api/v1/products}}]
""")
    assert unreachable_rules(http) == [('"send /api/v1/products to sample.bar"', "all matches used by prior rules")]


def test_a_rule_with_one_new_match_among_repeated_ones_is_reachable():
    """Istio's "almost-duplicate-match": /potato is new, so the rule is used (only IST0131 for the other)."""
    http = yaml.safe_load("""
- match: [{uri: {prefix: /api/v1/products}}]
- match: [{uri: {prefix: /api/v1/products}}, {uri: {prefix: /potato}}]
""")
    assert unreachable_rules(http) == []


def test_the_right_order_is_not_reported():
    http = yaml.safe_load("""
- {name: testers, match: [{headers: {x-track: {exact: canary}}}]}
- {name: everyone}
""")
    assert unreachable_rules(http) == []


def test_debugs_broken_release_is_noted_with_istios_warning_and_the_fix_is_not():
    broken = {Ref(o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]): o
              for o in load_manifest_file(EXERCISES_DIR / "debug" / "manifests" / "broken-order.yaml")}
    [(ref, note)] = unreachable_rule_notes(broken)
    assert ref.kind == "VirtualService"
    assert 'virtualService rule "testers" not used (route without matches defined before)' in note
    assert "IST0130" in note
    fixed = {Ref(o["kind"], o["metadata"].get("namespace", ""), o["metadata"]["name"]): o
             for o in load_manifest_file(EXERCISES_DIR / "debug" / "solutions" / "fixed-order.yaml")}
    assert unreachable_rule_notes(fixed) == []


def test_invoke_apply_prints_the_warning_for_the_object_applied(tmp_path):
    """Through `invoke apply` on a running local lab, as the learner meets it in debug's release-order."""
    debug = EXERCISES_DIR / "debug"
    with running_lab(tmp_path, ("apply", str(debug / "manifests" / "app.yaml")),
                     ("apply", str(debug / "solutions" / "fixed-subset.yaml"))) as lab:
        out = lab.invoke("apply", str(EXERCISES_DIR / "debug" / "manifests" / "broken-order.yaml")).stdout
        assert 'virtualService rule "testers" not used (route without matches defined before)' in " ".join(out.split())
        out = lab.invoke("apply", str(EXERCISES_DIR / "debug" / "solutions" / "fixed-order.yaml")).stdout
        assert "not used" not in out
