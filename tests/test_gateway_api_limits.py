"""The Gateway API CRDs' list limits, as the lab reads them: a list at its CRD's maxItems is
accepted, one more is refused, exactly where the CRD's own schema (jsonschema) draws the line."""

import jsonschema
import pytest
import yaml

from lab.backends.local.gateway_api_limits import check_limits
from lab.errors import ManifestError
from lab.manifests import ref_of
from tests.gateway_api_crds import validate
from tests.test_bad_input_table import (
    MAX_HOSTNAMES,
    MAX_LISTENERS,
    MAX_MATCHES,
    MAX_RULES,
    ROUTE_RULE,
    httproute,
    listeners,
    matches,
)


@pytest.mark.parametrize("make, most", [
    (lambda n: httproute(rules=[ROUTE_RULE] * n), MAX_RULES),
    (lambda n: httproute(rules=[matches(n)]), MAX_MATCHES),
    (lambda n: httproute(hostnames=[f"h{i}.lab.local" for i in range(n)]), MAX_HOSTNAMES),
    (listeners, MAX_LISTENERS),
])
def test_a_list_at_the_crds_limit_is_accepted_and_one_more_refused(make, most):
    at_limit, past = yaml.safe_load(make(most)), yaml.safe_load(make(most + 1))
    validate(at_limit)
    check_limits(ref_of(at_limit), at_limit)
    with pytest.raises(jsonschema.ValidationError):
        validate(past)
    with pytest.raises(ManifestError, match=f"at most {most}"):
        check_limits(ref_of(past), past)


def test_matches_across_rules_are_capped_by_the_crds_rule():
    """The CEL rule on spec.rules (not in the OpenAPI schema): at most 128 matches in all."""
    two_full = yaml.safe_load(httproute(rules=[matches(MAX_MATCHES)] * 2))
    check_limits(ref_of(two_full), two_full)   # 128: allowed
    with pytest.raises(ManifestError, match="across all rules"):
        over = yaml.safe_load(httproute(rules=[matches(MAX_MATCHES)] * 2 + [matches(1)]))
        check_limits(ref_of(over), over)
