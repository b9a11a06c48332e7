"""Talking to the user: rich progress bars driven by the maths' progress callbacks."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from typing import Callable

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)

console = Console(stderr=True, highlight=False)
out = Console(highlight=False)

Callback = Callable[[str, int, int, dict], None]


class Verbosity:
    quiet = False
    verbose = False
    debug = False


def say(message: str) -> None:
    if not Verbosity.quiet:
        console.print(message)


def warn(message: str) -> None:
    console.print(f"[yellow]warning:[/yellow] {message}")


def detail(message: str) -> None:
    if Verbosity.verbose:
        console.print(f"[dim]{message}[/dim]")


@contextlib.contextmanager
def progress_bars() -> Iterator[Callback]:
    """A progress callback ``(stage, done, total, info)`` drawing one bar per stage, with ETA."""
    if Verbosity.quiet or not sys.stderr:
        yield lambda stage, done, total, info: None
        return
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(), TextColumn("{task.fields[info]}"))
    with Progress(*columns, console=console, transient=False) as bars:
        tasks: dict[str, int] = {}

        def update(stage: str, done: int, total: int, info: dict) -> None:
            if stage not in tasks:
                tasks[stage] = bars.add_task(stage, total=total, info="")
            text = "  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in info.items())
            bars.update(tasks[stage], completed=done, total=total, info=text)

        yield update
