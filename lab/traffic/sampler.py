"""Sending requests through the gateway: async, keep-alive, a few at a time.

One aiohttp session (so connections are reused, as a browser would), a fixed
number of workers, and a callback per answer that says when to stop — the
sequential verdict stops as soon as it can decide.
"""

import asyncio
import math
import ssl
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import aiohttp

from lab.traffic.classify import ERROR, Classifier, describe
from lab.traffic.verdict import Expectation, SequentialVerdict, Verdict

BODY_LIMIT = 64 * 1024
MAX_EXAMPLES = 5
# A check's traffic never holds the learner longer: with every answer slow (a latency fault, a
# timeout at each of 5 s), its cap of requests alone could take many minutes.
CHECK_SECONDS = 120.0


@dataclass(frozen=True)
class RequestSpec:
    host: str                                   # Host header: the gateway routes on it
    path: str = "/"
    headers: tuple[tuple[str, str], ...] = ()
    scheme: str = "http"                        # "https": verified against ca_file, SNI = host


@dataclass
class Answer:
    status: int
    outcome: str        # a destination, ERROR or UNCLASSIFIED
    detail: str = ""
    source: str = ""    # the destination that answered, even with an error (empty: no answer)
    from_gateway: bool = False   # the gateway's Envoy answered itself: no upstream answered


async def _ask(session: aiohttp.ClientSession, url: str, headers: dict, classifier: Classifier,
               tls: dict) -> Answer:
    try:
        async with session.get(url, headers=headers, allow_redirects=False, **tls) as response:
            body = (await response.content.read(BODY_LIMIT)).decode(errors="replace")
            return answer_of(classifier, response.status, response.headers, body)
    except (aiohttp.ClientError, asyncio.TimeoutError, OSError) as e:
        return Answer(0, ERROR, describe(0, {}, f"{type(e).__name__}: {e}".strip(": ")))


def answer_of(classifier: Classifier, status: int, headers: Mapping[str, str], body: str) -> Answer:
    """Which destination answered; a description when it was none of them (for 'why')."""
    outcome = classifier.classify(status, headers, body)
    detail = describe(status, headers, body) if outcome not in classifier.rules else ""
    # Envoy's router adds x-envoy-upstream-service-time to what an upstream answered, never to its
    # own local replies (router filter docs; neither Istio nor the lab suppresses Envoy's headers).
    return Answer(status, outcome, detail, classifier.identify(headers, body),
                  from_gateway=status > 0 and "x-envoy-upstream-service-time" not in {k.lower() for k in headers})


def _tls_options(spec: RequestSpec, ca_file: str | None) -> dict:
    """For https: trust only the lab CA, and name the host in SNI as a browser would."""
    if spec.scheme != "https":
        return {}
    return {"ssl": ssl.create_default_context(cafile=ca_file), "server_hostname": spec.host}


async def sample(gateway_url: str, spec: RequestSpec, classifier: Classifier, *,
                 on_answer: Callable[[Answer], bool], max_requests: int, concurrency: int = 8,
                 timeout: float = 5.0, ca_file: str | None = None, also: Sequence[RequestSpec] = (),
                 budget: float = math.inf) -> int:
    """Send up to `max_requests`, none after `budget` seconds; stop early once `on_answer` returns True.
    Returns requests sent. With `also`, requests take `spec` and each of those in turn (one host and
    scheme: one session)."""
    deadline = time.monotonic() + budget
    kinds = [(gateway_url.rstrip("/") + s.path, {"Host": s.host, **dict(s.headers)}) for s in (spec, *also)]
    tls = _tls_options(spec, ca_file)
    sent = 0
    stop = False
    connector = aiohttp.TCPConnector(limit=concurrency)
    # trust_env=False: never through HTTP(S)_PROXY, which cannot reach this machine's gateway port
    # (the gateway is on 127.0.0.1, or a port-forward there; lab/loopback.py).
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=timeout),
                                     trust_env=False) as session:
        async def worker() -> None:
            nonlocal sent, stop
            while not stop and sent < max_requests and time.monotonic() < deadline:
                url, headers = kinds[sent % len(kinds)]
                sent += 1
                answer = await _ask(session, url, headers, classifier, tls)
                if not stop and on_answer(answer):
                    stop = True

        await asyncio.gather(*(worker() for _ in range(min(concurrency, max_requests))))
    return sent


def run_verdict(gateway_url: str, spec: RequestSpec, classifier: Classifier,
                expectation: Expectation, ca_file: str | None = None,
                also: Sequence[RequestSpec] = (), budget: float = CHECK_SECONDS) -> tuple[Verdict, list[Answer]]:
    """Sample until the verdict decides (or the cap, or `budget` seconds), over `spec` and `also` in
    turn; also return a few unexpected answers, for 'why'."""
    verdict, examples, on_answer = _judge(expectation)
    asyncio.run(sample(gateway_url, spec, classifier, on_answer=on_answer,
                       max_requests=expectation.max_requests, ca_file=ca_file, also=also, budget=budget))
    verdict.out_of_time(budget)
    return verdict.verdict, examples


def _judge(expectation: Expectation) -> tuple[SequentialVerdict, list[Answer], Callable[[Answer], bool]]:
    """A verdict, the unexpected answers kept as examples, and the callback that feeds both
    (True once the verdict is decided)."""
    verdict = SequentialVerdict(expectation)
    examples: list[Answer] = []

    def on_answer(answer: Answer) -> bool:
        if answer.detail and len(examples) < MAX_EXAMPLES:
            examples.append(answer)
        return verdict.add(answer.outcome, answer.source) is not None

    return verdict, examples, on_answer


def count(gateway_url: str, spec: RequestSpec, classifier: Classifier, requests: int,
          concurrency: int = 8, ca_file: str | None = None, counts: dict[str, int] | None = None,
          on_count: Callable[[], None] = lambda: None, others: list[Answer] | None = None) -> dict[str, int]:
    """Counts per outcome (app name, error, unclassified) for `requests` requests. Pass your own
    `counts` to keep what came back if Ctrl-C stops it; `on_count` runs after each answer;
    `others` collects the answers that were no destination's (to explain them)."""
    counts = {} if counts is None else counts

    def on_answer(answer: Answer) -> bool:
        counts[answer.outcome] = counts.get(answer.outcome, 0) + 1
        if others is not None and answer.outcome not in classifier.rules:
            others.append(answer)
        on_count()
        return False

    asyncio.run(sample(gateway_url, spec, classifier, on_answer=on_answer, max_requests=requests,
                       concurrency=concurrency, ca_file=ca_file))
    return counts


def collect(gateway_url: str, spec: RequestSpec, classifier: Classifier, requests: int,
            concurrency: int = 8) -> list[Answer]:
    """Every answer of `requests` requests, for checks that look at more than the split."""
    answers: list[Answer] = []

    def on_answer(answer: Answer) -> bool:
        answers.append(answer)
        return False

    asyncio.run(sample(gateway_url, spec, classifier, on_answer=on_answer, max_requests=requests,
                       concurrency=concurrency))
    return answers


def verdict_in_batches(ask: Callable[[int], list[tuple[int, Mapping[str, str], str]]], classifier: Classifier,
                       expectation: Expectation, batch: int = 50) -> tuple[Verdict, list[Answer]]:
    """The same verdict for answers that come in batches (curl loops in a pod): `ask(n)` returns
    n answers as (status, headers, body), status 0 for no answer."""
    verdict, examples, on_answer = _judge(expectation)
    while verdict.decision is None:
        wanted = min(batch, expectation.max_requests - verdict.requests)
        answers = ask(wanted)[:wanted]
        answers += [(0, {}, "no answer came back")] * (wanted - len(answers))   # missing ones count as errors
        for status, headers, body in answers:
            if on_answer(answer_of(classifier, status, headers, body)):
                break
    return verdict.verdict, examples
