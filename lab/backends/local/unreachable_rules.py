"""The warning Istio gives for a VirtualService rule that can never match (IST0130).

Istio's validation warns on apply (kubectl prints `Warning: virtualService rule "testers" not used
(route without matches defined before)`), since Istio 1.10, and `istioctl analyze` reports the same
as IST0130 VirtualServiceUnreachableRule. The local lab prints it as an apply note, word for word, so
a catch-all above a header route is flagged on both backends. Source: istio release-1.31
pkg/config/validation/validation.go, analyzeUnreachableHTTPRules and routeName; the message template
in pkg/config/analysis/msg/messages.yaml (IST0130, "VirtualService rule %v not used (%s).").
"""

import json

from lab.manifests import Ref

NO_MATCHES_BEFORE = "route without matches defined before"
SECOND_CATCH_ALL = "only the last rule can have no matches"
ALL_MATCHES_USED = "all matches used by prior rules"


def unreachable_rule_notes(objects: dict[Ref, dict]) -> list[tuple[Ref, str]]:
    """One note per warning Istio gives, for every VirtualService held."""
    notes = []
    for ref, vs in sorted(objects.items()):
        if ref.kind != "VirtualService":
            continue
        for rule, reason in unreachable_rules(((vs.get("spec") or {}).get("http")) or []):
            note = (f"{ref}: virtualService rule {rule} not used ({reason}) — as on a cluster, where the apply "
                    "warns the same and istioctl analyze reports IST0130; the rule above it takes every request it "
                    "would")
            notes.append((ref, note))
    return notes


def unreachable_rules(http: list) -> list[tuple[str, str]]:
    """(rule, reason) for each warning, in Istio's order: a rule is named "name" or #index."""
    return [(json.dumps(http[index]["name"]) if http[index].get("name") else f"#{index}", reason)
            for index, reason in unreachable_rule_indexes(http)]


def unreachable_rule_indexes(http: list) -> list[tuple[int, str]]:
    """(the rule's index in `http`, reason) for each warning Istio gives, in its order."""
    warnings: list[tuple[int, str]] = []
    seen: set[str] = set()
    catch_all_seen = False
    for index, route in enumerate(http):
        if not isinstance(route, dict):
            continue
        matches = [m for m in route.get("match") or [] if isinstance(m, dict)]
        if not matches:
            if catch_all_seen:
                warnings.append((index, SECOND_CATCH_ALL))
            catch_all_seen = True
            continue
        duplicates = 0
        for match in matches:
            if catch_all_seen:   # once per match, as Istio reports it
                warnings.append((index, NO_MATCHES_BEFORE))
                continue
            # What the match selects: its name is left out (validation.go asJSON), so two matches that
            # differ only in name are the same match.
            key = json.dumps({k: v for k, v in match.items() if k != "name"}, sort_keys=True, default=str)
            if key in seen:   # IST0131 (an ineffective match) in Istio; counted here for the rule
                duplicates += 1
                continue
            seen.add(key)
        if duplicates == len(matches):
            warnings.append((index, ALL_MATCHES_USED))
    return warnings
