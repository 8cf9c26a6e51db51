"""What an author may write in a check (lab/exercises/check_specs.py). A resilience or mirror bound is a
share from 0 to 100 (0 itself is one: "no copies at all" after a mirror is removed), at least one must be
given and any one alone is enough; a check is about a path, a path and all under it, or every path. A
wrong one fails when the catalogue loads, not when a learner reaches the step (`invoke dev.check`)."""

import pytest
from pydantic import ValidationError

from lab.exercises.check_specs import Check

RESILIENCE = {"destination": "v2", "requests": 100}
MIRROR = {"destination": "v2"}


@pytest.mark.parametrize("spec", [
    {"resilience": {**RESILIENCE, "own_errors_at_least": 0}},
    {"resilience": {**RESILIENCE, "own_errors_at_least": 100}},
    {"resilience": {**RESILIENCE, "timeouts_at_least": 0}},
    {"resilience": {**RESILIENCE, "client_errors_at_most": 0}},
    {"resilience": {**RESILIENCE, "ejected_at_least": 1}},
    {"mirror": {**MIRROR, "copies_at_least": 0}},
    {"mirror": {**MIRROR, "copies_at_most": 0}},                # after the mirror is removed: no copies
    {"mirror": {**MIRROR, "copies_at_least": 5, "copies_at_most": 15}},
    {"mirror": {**MIRROR, "requests": 1, "copies_at_most": 100}},
    {"sticky": {"pods_per_version": 1, "requests": 1}},
])
def test_each_bound_alone_and_each_end_of_its_range_is_accepted(spec: dict):
    Check.model_validate(spec)


@pytest.mark.parametrize("spec, complaint", [
    ({"resilience": RESILIENCE}, "give at least one of client_errors_at_most"),
    ({"resilience": {**RESILIENCE, "own_errors_at_least": 101}}, "less than or equal to 100"),
    ({"resilience": {**RESILIENCE, "timeouts_at_least": -1}}, "greater than or equal to 0"),
    ({"resilience": {**RESILIENCE, "timeouts_at_least": 101}}, "less than or equal to 100"),
    ({"resilience": {**RESILIENCE, "ejected_at_least": 0}}, "greater than 0"),
    ({"mirror": MIRROR}, "give copies_at_least or copies_at_most"),
    ({"mirror": {**MIRROR, "copies_at_most": 101}}, "less than or equal to 100"),
    ({"sticky": {"pods_per_version": 0}}, "greater than 0"),
])
def test_no_bound_or_a_share_outside_0_to_100_is_refused(spec: dict, complaint: str):
    with pytest.raises(ValidationError) as refused:
        Check.model_validate(spec)
    assert complaint in str(refused.value)


@pytest.mark.parametrize("path, taken", [("/x", True), ("/x/*", True), ("/*", True), ("/x*", False),
                                         ("/x/*/y", False), ("x", False), ("/x?", False)])
def test_a_check_is_about_a_path_a_path_and_all_under_it_or_every_path(path: str, taken: bool):
    spec = {"traffic": {"expect": {"v1": 100}, "about": {"paths": [path]}}}
    if taken:
        Check.model_validate(spec)
    else:
        with pytest.raises(ValidationError, match="is not /PATH, /PATH/"):
            Check.model_validate(spec)
