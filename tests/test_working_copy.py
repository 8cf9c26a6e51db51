"""The "you did not apply your working copy" slip is told only when it is true: the lab (like an
API server) stores a Gateway API route with its defaults filled in, which is still what was applied."""

import copy

from lab.backends.local.gateway_api import admit
from lab.config import EXERCISES_DIR
from lab.exercises.working_copy import holds
from lab.manifests import load_manifest_file

ROUTE = EXERCISES_DIR / "canary-gateway-api" / "solutions" / "httproute-80-20.yaml"


def test_a_route_stored_with_its_defaults_holds_what_was_applied_and_an_edit_does_not():
    [applied] = load_manifest_file(ROUTE)
    stored = admit(copy.deepcopy(applied), None)
    assert stored["spec"] != applied["spec"]                 # defaults filled in: weight, kind, matches
    assert holds(stored["spec"], applied["spec"])
    edited = copy.deepcopy(applied)
    edited["spec"]["rules"][-1]["backendRefs"][0]["weight"] = 50
    assert not holds(stored["spec"], edited["spec"])
    fewer = copy.deepcopy(applied)
    del fewer["spec"]["rules"][0]
    assert not holds(stored["spec"], fewer["spec"])
