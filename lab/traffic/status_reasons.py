"""What an answer that is no app's means, in a learner's words: Envoy's own answers (404 with no
body: no route, its NR flag; 503 "no healthy upstream": UH; "upstream connect error": UF) and
errors of the app itself."""

from collections import Counter

from lab.traffic.sampler import Answer


def reason(answer: Answer) -> str:
    detail = answer.detail
    if answer.status == 0:
        return "no answer: is the lab up? `invoke status`"
    if answer.status == 404 and detail.endswith("''"):
        return "no route for this host and path (NR): is the Host header right? `invoke status` lists the routes"
    if answer.status == 503 and "no healthy upstream" in detail:
        return "no healthy upstream (UH): is the app up? `invoke status`"
    if answer.status == 503 and "upstream connect error" in detail:
        return "the app did not take the connection (UF): `invoke status`, then `invoke logs NAME`"
    if answer.status >= 500 and answer.from_gateway:
        return ("the gateway's own answer, no app was asked: a backend that does not resolve (an HTTPRoute's "
                "`invoke get httproute NAME` shows ResolvedRefs), or every backend of the route at weight 0")
    if answer.status >= 500:
        return f"an error from the app ({detail}): `invoke logs NAME` shows why"
    return f"not an answer of a lab app ({detail}): is the path right?"


def summary_lines(answers: list[Answer]) -> list[str]:
    """'404 ×12 — no route …', most frequent first."""
    counted = Counter((a.status, reason(a)) for a in answers)
    return [f"{status} ×{n} — {why}" if status else f"×{n} — {why}" for (status, why), n in counted.most_common()]
