"""Everything the lab shows or asks goes through here (nothing else prints).

- `console`: rich output (markdown, YAML, tables, charts).
- `step(title)`: a long-running step; a spinner on a terminal, plain lines otherwise.
- `choose(...)`: the one prompt the walkthrough needs, behind a function so tests
  can drive it with prompt_toolkit's pipe input; it can close by itself when the lab
  changes (watch mode).
"""

import asyncio
import re
import sys
from collections.abc import Callable
from contextlib import contextmanager
from typing import Any

from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.table import Table

from lab.errors import LabError


class _Console(Console):
    """rich's Console, except that nothing is cropped or wrapped where the output is not a terminal:
    a pipe or a file (`invoke get ... > file`) has no width, so a line is written whole (a command in
    it stays on one line, to copy)."""

    def print(self, *objects: Any, **options: Any) -> None:
        if not self.is_terminal:
            options["crop"] = False
            options.setdefault("soft_wrap", True)
        super().print(*objects, **options)


console = _Console(highlight=False)
err_console = _Console(stderr=True, highlight=False)

# Set by tests: a callable giving each prompt its {"input": pipe, "output": DummyOutput()}.
# None means the real terminal.
_prompt_io = None


def set_prompt_io(factory=None) -> None:
    global _prompt_io
    _prompt_io = factory


def interactive() -> bool:
    return _prompt_io is not None or (sys.stdin.isatty() and sys.stdout.isatty())


@contextmanager
def step(title: str):
    """Show a long step: spinner while it runs, then ✓ or ✗ with the time it took."""
    import time

    started = time.monotonic()
    ok = False
    try:
        if console.is_terminal:
            with console.status(title):
                yield
        else:
            console.print(f"… {title}")
            yield
        ok = True
    finally:
        took = time.monotonic() - started
        mark = "[green]✓[/]" if ok else "[red]✗[/]"
        console.print(f"{mark} {title} [dim]({took:.1f}s)[/]")


class _Table(Table):
    """A table that, where the output is not a terminal, takes the width its cells need: a piped
    table keeps one line per row and every cell whole (rich would wrap it at 80 columns)."""

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        if not console.is_terminal:
            natural = Measurement.get(console, options.update_width(_UNBOUNDED), self).maximum
            options = options.update_width(max(options.max_width, natural))
        return super().__rich_console__(console, options)


_UNBOUNDED = 1_000_000


def table(*columns: str, **options: Any) -> Table:
    """A rich Table, unwrapped where the output is not a terminal."""
    return _Table(*columns, **options)


def plain(text: str) -> None:
    """Machine-readable text (YAML, JSON) exactly as given: never wrapped, cropped, coloured or read
    as markup, whatever the width, so that `invoke get ... -o yaml > file` can be applied again."""
    console.out(text, highlight=False, end="" if text.endswith("\n") else "\n")


def info(text: str) -> None:
    console.print(text)


def error(text: str) -> None:
    err_console.print(f"[red]error:[/] {text}", soft_wrap=True)


# rich's Markdown and Syntax load slowly; only the walkthrough needs them, so they load late.
def markdown(text: str) -> None:
    """Prose as Markdown; fenced code blocks (commands) as commands: never broken across lines."""
    from rich.markdown import Markdown

    for index, part in enumerate(_FENCE.split(text)):
        if index % 2:
            for line in part.strip("\n").splitlines():
                command(line)
        elif part.strip():
            console.print(Markdown(part))


_FENCE = re.compile(r"^```[a-z]*\n(.*?)^```\s*$", re.MULTILINE | re.DOTALL)


def command(text: str) -> None:
    """A command to copy: on its own line, and no line break of ours inside it (the terminal wraps
    it softly if it is wider, so a paste gives the command whole)."""
    console.print(f"  {text}", style="bold cyan", soft_wrap=True, markup=False, highlight=False)


def yaml_block(text: str, title: str = "") -> None:
    """YAML coloured on a terminal, each line whole (wider than the terminal, it wraps softly);
    plain elsewhere."""
    from rich.syntax import Syntax

    if title:
        console.print(f"[bold]{title}[/]")
    if not console.is_terminal:
        plain(text)
        return
    widest = max((len(line) for line in text.splitlines()), default=0)
    console.print(Syntax(text.rstrip(), "yaml", theme="ansi_dark", background_color="default", code_width=widest),
                  crop=False)


def diff_block(text: str) -> None:
    """A unified diff, coloured (+ green, - red)."""
    from rich.syntax import Syntax

    console.print(Syntax(text.rstrip(), "diff", theme="ansi_dark", background_color="default"))


# What choose() answers when `changed` said so before the learner picked anything.
CHANGED = "(the lab changed)"


def choose(message: str, choices: list[str], changed: Callable[[], bool] | None = None,
           every: float = 1.0) -> str:
    """Ask the learner to pick one of `choices`; Ctrl-C or Ctrl-D raise KeyboardInterrupt.

    With `changed`, it is called about every `every` seconds (in a thread) while the menu
    waits; once it says True the menu closes and the answer is CHANGED."""
    import questionary

    if not interactive():
        raise LabError("this step needs a terminal to ask you questions",
                       "run it in a terminal, or pass --yes to let the lab do every step")
    io = _prompt_io() if _prompt_io else {}
    question = questionary.select(message, choices=choices, **io)
    if changed is None:
        answer = question.unsafe_ask()
    else:
        answer = asyncio.run(_ask_until_changed(question, changed, every))
    if answer is None:
        raise KeyboardInterrupt
    return answer


async def _ask_until_changed(question, changed: Callable[[], bool], every: float):
    async def ask():
        try:
            return await question.unsafe_ask_async()
        except KeyboardInterrupt:   # a BaseException escaping a task stops the loop before anyone reads it
            return None

    prompt = asyncio.ensure_future(ask())
    while True:
        done, _ = await asyncio.wait({prompt}, timeout=every)
        if done:
            return prompt.result()
        is_changed = await asyncio.to_thread(changed)
        if prompt.done():        # the learner answered while we looked: their answer wins
            return prompt.result()
        if is_changed:
            question.application.exit(result=CHANGED)
            return await prompt


@contextmanager
def download_progress(title: str, total: int, enabled: bool = True):
    """A progress bar for a download; yields `advance(n_bytes)`."""
    if not enabled or not console.is_terminal:
        yield lambda n: None
        return
    from rich.progress import DownloadColumn, TransferSpeedColumn

    with _progress_bar(title, total, DownloadColumn(), TransferSpeedColumn()) as advance:
        yield advance


@contextmanager
def progress(title: str, total: int):
    """A progress bar counting up to `total` (on a terminal); yields `advance()`, one per item."""
    if not console.is_terminal:
        yield lambda: None
        return
    from rich.progress import MofNCompleteColumn, TimeElapsedColumn

    with _progress_bar(title, total, MofNCompleteColumn(), TimeElapsedColumn()) as advance:
        yield lambda: advance(1)


@contextmanager
def _progress_bar(title: str, total: int, *columns):
    """A transient rich progress bar (gone once done); yields `advance(n)`."""
    from rich.progress import BarColumn, Progress

    with Progress("[progress.description]{task.description}", BarColumn(), *columns,
                  console=console, transient=True) as bar:
        task = bar.add_task(title, total=total or None)
        yield lambda n: bar.advance(task, n)
