"""The sampler against a real HTTP server of the test's own (127.0.0.1, ephemeral port)."""

import asyncio
import io
import threading
import time

import pytest
from aiohttp import web
from rich.console import Console

from lab.ports import free_port
from lab.traffic.chart import counts_chart, verdict_chart
from lab.traffic.classify import ERROR, UNCLASSIFIED, Classifier, describe
from lab.traffic.sampler import RequestSpec, count, run_verdict
from lab.traffic.verdict import INCONCLUSIVE, PASS, Expectation

PAGES = Classifier.from_spec({"blue": {"title": "blue"}, "green": {"title": "green"}})


class Server:
    """Answers a 4:1 blue/green rotation; /503 always fails. Records hosts and client ports."""

    def __init__(self):
        self.hits = 0
        self.hosts: set[str] = set()
        self.client_ports: set[int] = set()
        self.port = free_port()
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    async def page(self, request: web.Request) -> web.Response:
        self.hosts.add(request.host)
        self.client_ports.add(request.transport.get_extra_info("peername")[1])
        if request.path == "/503":
            return web.Response(status=503, text="upstream connect error")
        if request.path == "/slow":   # a latency fault: every answer takes half a second
            await asyncio.sleep(0.5)
        self.hits += 1
        colour = "green" if self.hits % 5 == 0 else "blue"
        return web.Response(text=f"<html><title>{colour}</title></html>", content_type="text/html")

    def _run(self):
        asyncio.set_event_loop(self.loop)
        app = web.Application()
        app.router.add_get("/{tail:.*}", self.page)
        self.runner = web.AppRunner(app)
        self.loop.run_until_complete(self.runner.setup())
        self.loop.run_until_complete(web.TCPSite(self.runner, "127.0.0.1", self.port).start())
        self.ready.set()
        self.loop.run_forever()

    def __enter__(self):
        self.thread.start()
        self.ready.wait(5)
        return self

    def __exit__(self, *exc):
        asyncio.run_coroutine_threadsafe(self.runner.cleanup(), self.loop).result(5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def server():
    with Server() as running:
        yield running


def test_count_classifies_every_answer_and_reuses_connections(server):
    counts = count(server.url, RequestSpec(host="shop.local"), PAGES, 500, concurrency=4)
    assert counts == {"blue": 400, "green": 100}
    assert server.hosts == {"shop.local"}
    assert len(server.client_ports) <= 4   # keep-alive: 4 workers, 4 connections, not 500


def test_5xx_and_refused_connections_are_errors(server):
    assert count(server.url, RequestSpec(host="x", path="/503"), PAGES, 10) == {ERROR: 10}
    closed = f"http://127.0.0.1:{free_port()}"
    assert count(closed, RequestSpec(host="x"), PAGES, 3) == {ERROR: 3}


def test_run_verdict_stops_once_decided(server):
    verdict, examples = run_verdict(server.url, RequestSpec(host="x"), PAGES,
                                    Expectation(shares={"blue": 80, "green": 20}))
    assert verdict.decision == PASS
    assert verdict.requests < 400 and server.hits < verdict.requests + 8   # stopped early (8 in flight at most)
    assert examples == []


def test_unexpected_answers_come_back_as_examples(server):
    only_blue = Classifier.from_spec({"blue": {"title": "blue"}})
    verdict, examples = run_verdict(server.url, RequestSpec(host="x"), only_blue,
                                    Expectation(shares={"blue": 100}))
    assert verdict.decision == "fail"
    assert examples and "title 'green'" in examples[0].detail


def test_header_and_body_fingerprints():
    classifier = Classifier.from_spec({"v2": {"header": {"X-Version": "v2"}}, "v1": {"body": r"^version v1"}})
    assert classifier.classify(200, {"x-version": "v2"}, "") == "v2"
    assert classifier.classify(200, {}, "version v1 from a") == "v1"
    assert classifier.classify(404, {}, "nope") == UNCLASSIFIED
    assert describe(200, {"x-version": "v3"}, "version v3") == "HTTP 200, 'version v3', x-version v3"


def test_charts_show_names_shares_and_the_decision(server):
    console = Console(width=100, record=True, file=io.StringIO())
    console.print(counts_chart({"blue": 80, "green": 19, ERROR: 1}, title="100 requests"))
    text = console.export_text()
    assert "blue" in text and "80.0%" in text and "19.0%" in text and "error" in text
    verdict, _ = run_verdict(server.url, RequestSpec(host="x"), PAGES, Expectation(shares={"blue": 80, "green": 20}))
    console.print(verdict_chart(verdict, Expectation(shares={"blue": 80, "green": 20})))
    text = console.export_text()
    assert "PASS after" in text and "80%" in text and "expected" in text
    assert "interval (99%)" in text   # the interval's confidence is 1 − α (the default α here)
    only_blue = Expectation(shares={"blue": 100, "green": 0})
    console.print(verdict_chart(run_verdict(server.url, RequestSpec(host="x"), PAGES, only_blue)[0], only_blue))
    rest = console.export_text()
    assert "interval" not in rest and f"{only_blue.streak_needed()} right in a row pass it" in rest


def test_a_verdict_on_slow_answers_stops_at_its_time_limit_and_says_so():
    # A check must not hold the learner for its whole cap of requests when each answer is slow.
    with Server() as server:
        started = time.monotonic()
        verdict, _ = run_verdict(server.url, RequestSpec(host="x", path="/slow"), PAGES,
                                 Expectation(shares={"blue": 80, "green": 20}), budget=1.0)
        assert time.monotonic() - started < 4
    assert verdict.decision == INCONCLUSIVE and 0 < verdict.requests < 40
    assert "in 1 s, the check's time limit" in verdict.reason
