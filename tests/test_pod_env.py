"""A local pod is a process on the learner's own account: it gets only the env its app reads (as
apps/*/local.yaml declares it) and names of the learner's own (APP_...). Every name a runtime,
loader or library reads is refused, whether or not anyone thought of it."""

import re

import pytest

from lab.backends.local.pods import desired_pods
from lab.backends.local.runners import load_runners
from lab.config import APPS_DIR
from lab.errors import ManifestError
from tests.conftest import by_ref


def deployment(image: str, env: list[dict]) -> str:
    entries = "".join(f"\n            - {{name: '{e['name']}', value: '{e['value']}'}}" for e in env)
    return f"""
apiVersion: apps/v1
kind: Deployment
metadata: {{name: web, namespace: shop}}
spec:
  selector: {{matchLabels: {{app: web}}}}
  template:
    metadata: {{labels: {{app: web}}}}
    spec:
      containers:
        - name: web
          image: {image}
          env: {entries or "[]"}
"""


def pod_env(image: str, env: list[dict]) -> dict[str, str]:
    [pod] = desired_pods(by_ref(deployment(image, env)), load_runners(), {}).values()
    return pod.env


# Names that change how a process starts or what it loads, by who reads them.
DANGEROUS = [
    "LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT", "DYLD_INSERT_LIBRARIES",             # the loader
    "PYTHONPATH", "PYTHONSTARTUP", "PYTHONHOME", "PYTHONINSPECT", "PYTHONWARNINGS",   # Python
    "OPENSSL_CONF", "OPENSSL_MODULES", "OPENSSL_ENGINES", "SSLKEYLOGFILE",            # OpenSSL
    "SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
    "GCONV_PATH", "LOCPATH", "NLSPATH", "GLIBC_TUNABLES", "MALLOC_CHECK_", "TZDIR",    # glibc, locale, iconv
    "HOSTALIASES", "RES_OPTIONS", "LOCALDOMAIN",                                       # the resolver
    "GUNICORN_CMD_ARGS", "WEB_CONCURRENCY", "FORWARDED_ALLOW_IPS", "SERVER_SOFTWARE",  # gunicorn
    "ASYNC_TEST_TIMEOUT", "TORNADO_EXTENSION",                                         # tornado
    "PATH", "HOME", "TMPDIR", "SHELL", "BASH_ENV", "ENV", "IFS", "PS4",                # shells
    "HTTP_PROXY", "https_proxy", "NO_PROXY", "PERL5OPT", "NODE_OPTIONS", "JAVA_TOOL_OPTIONS",
    "LANG", "LC_ALL", "TERMINFO", "XDG_CONFIG_HOME", "version",                       # case counts
]


@pytest.mark.parametrize("name", DANGEROUS)
def test_a_name_the_app_does_not_read_is_refused_with_the_reason_and_the_way_out(name):
    with pytest.raises(ManifestError) as refused:
        pod_env("canary-lab.invalid/version-app:1.0", [{"name": name, "value": "/tmp/x"}])
    message = str(refused.value)
    assert f"refuses {name}" in message and "your own account" in message
    assert "VERSION, ERROR_RATE, LATENCY_MS, LATENCY_SHARE" in message   # what it may set instead
    assert "APP_" in message and "k3d" in message


def test_what_the_app_declares_it_reads_and_the_learners_own_names_reach_the_process():
    env = pod_env("canary-lab.invalid/version-app:1.0", [{"name": "VERSION", "value": "v2"},
                                                 {"name": "ERROR_RATE", "value": "0.5"},
                                                 {"name": "APP_COLOUR", "value": "blue"}])
    assert env["VERSION"] == "v2" and env["ERROR_RATE"] == "0.5" and env["APP_COLOUR"] == "blue"


def test_each_app_gets_only_what_it_declares():
    """VERSION is the version app's; httpbin reads no env a manifest may set."""
    with pytest.raises(ManifestError, match="canary-lab/httpbin|httpbin: none"):
        pod_env("kennethreitz/httpbin", [{"name": "VERSION", "value": "v2"}])
    assert pod_env("kennethreitz/httpbin", [{"name": "APP_NOTE", "value": "x"}])["APP_NOTE"] == "x"


def test_the_declared_names_are_what_the_app_reads():
    """apps/version/local.yaml's reads_env matches what app.py reads from the environment."""
    source = (APPS_DIR / "version" / "app.py").read_text()
    read = set(re.findall(r"os\.environ\.get\(\"([A-Z_]+)\"", source)) - {"PORT", "POD_NAME"}
    [runner] = [r for r in load_runners() if r.app == "version"]
    assert set(runner.reads_env) == read


@pytest.mark.parametrize("prefix_only", ["APP_", "APP", "app_colour", "XAPP_COLOUR"])
def test_the_learners_prefix_is_exact(prefix_only):
    with pytest.raises(ManifestError, match="refuses"):
        pod_env("canary-lab.invalid/version-app:1.0", [{"name": prefix_only, "value": "x"}])
