"""Bar charts of where traffic went (rich renderables; the caller prints them)."""

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text

from lab.traffic.classify import ERROR, UNCLASSIFIED
from lab.traffic.verdict import FAIL, PASS, Expectation, Verdict

BAR_WIDTH = 40
DECISION_STYLE = {PASS: "bold green", FAIL: "bold red"}


def _bar(share: float, style: str = "cyan") -> Text:
    filled = round(BAR_WIDTH * share / 100)
    return Text("█" * filled, style=style) + Text("·" * (BAR_WIDTH - filled), style="dim")


def counts_chart(counts: dict[str, int], title: str = "") -> RenderableType:
    """One bar per destination: name, bar, count, share of all requests."""
    total = sum(counts.values()) or 1
    table = Table(title=title or None, title_justify="left", box=None, padding=(0, 1))
    for column in ("answered by", "", "requests", "share"):
        table.add_column(column, justify="right" if column in ("requests", "share") else "left")
    names = sorted((n for n in counts if n not in (ERROR, UNCLASSIFIED)), key=lambda n: -counts[n])
    for name in names + [n for n in (UNCLASSIFIED, ERROR) if counts.get(n)]:
        share = 100 * counts[name] / total
        style = "red" if name in (ERROR, UNCLASSIFIED) else "cyan"
        table.add_row(Text(name, style=style), _bar(share, style), str(counts[name]), f"{share:.1f}%")
    return table


def verdict_chart(verdict: Verdict, expectation: Expectation) -> RenderableType:
    """Observed vs expected share per destination, the interval, and the decision (the reason is the caller's)."""
    table = Table(box=None, padding=(0, 1))
    # A 0%/100% split is decided answer by answer (one stray fails, a run of right ones passes), not by
    # an interval: shown beside it, an interval of 87–100% read as "13% elsewhere would pass".
    by_interval = not expectation.deterministic
    confidence = f"interval ({100 * (1 - verdict.alpha):g}%)"   # 1 − α: 99% unless the settings say otherwise
    columns = ("destination", "observed", "share", "expected") + ((confidence,) if by_interval else ())
    for column in columns:
        table.add_column(column, justify="left" if column in ("destination", "observed") else "right")
    for name, expected in expectation.shares.items():
        low, high = verdict.interval(name)
        table.add_row(name, _bar(verdict.share(name)), f"{verdict.share(name):.1f}%", f"{expected:g}%",
                      *([f"{low:.0f}–{high:.0f}%"] if by_interval else []))
    extras = [f"{verdict.counts[n]} {n}" for n in (UNCLASSIFIED, ERROR) if verdict.counts.get(n)]
    decision = (verdict.decision or "undecided").upper()
    summary = Text(decision, style=DECISION_STYLE.get(verdict.decision or "", "bold yellow"))
    summary += Text(f" after {verdict.requests} requests" + (f" ({', '.join(extras)})" if extras else ""))
    if not by_interval:
        summary += Text(f" — one answer elsewhere fails it; {expectation.streak_needed()} right in a row pass it",
                        style="dim")
    return Group(table, summary)


def replicas_chart(history: list[tuple[float, dict[str, int]]], most: int) -> RenderableType:
    """Replicas of each Deployment over time: one row per reading, one bar per Deployment."""
    names = sorted({name for _, counts in history for name in counts})
    table = Table(box=None, padding=(0, 1))
    table.add_column("time", justify="right")
    for name in names:
        table.add_column(name)
    for seconds, counts in history:
        cells = []
        for name in names:
            n = counts.get(name, 0)
            cells.append(Text("▇" * n, style="cyan") + Text("·" * max(0, most - n), style="dim") + Text(f" {n}"))
        table.add_row(f"{seconds:.0f}s", *cells)
    return table
