"""Talking to the user: rich progress bars driven by the maths' progress callbacks, and printing.

Text that comes from outside lenscal (file names, EXIF, profiles, library messages) is never
printed as it is: :func:`plain` removes control characters (an ESC in a camera name would clear
the screen or retitle the window) and :func:`safe` also escapes rich markup (a ``[/x]`` in a
camera model would otherwise crash the printing). ``say``, ``warn`` and ``detail`` take plain
text and escape all of it; only lenscal's own fixed prefixes carry markup.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import sys
from collections.abc import Iterator
from typing import Any, Callable

from rich.console import Console
from rich.markup import escape
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)

console = Console(stderr=True, highlight=False)
out = Console(highlight=False)

Callback = Callable[[str, int, int, dict], None]

# C0 controls (tab and newline included: every message is one line), DEL, C1 controls, and the
# Unicode bidirectional overrides that can make a file name read as another one
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


class Verbosity:
    quiet = False
    verbose = False
    debug = False


def plain(text: Any) -> str:
    """``text`` as a string without control characters (each becomes one space), and without the
    undecodable bytes of a file name (Python's surrogates, which no terminal encoding can print)."""
    text = str(text).encode("utf-8", "replace").decode("utf-8")
    return _CONTROL.sub(" ", text)


def safe(text: Any) -> str:
    """``text`` ready to embed in rich markup: control characters removed, markup escaped."""
    return escape(plain(text))


def say(message: str) -> None:
    if not Verbosity.quiet:
        console.print(safe(message), soft_wrap=True)


def warn(message: str) -> None:
    console.print(f"[yellow]warning:[/yellow] {safe(message)}", soft_wrap=True)


def detail(message: str) -> None:
    if Verbosity.verbose:
        console.print(f"[dim]{safe(message)}[/dim]", soft_wrap=True)


def error(message: str) -> None:
    """The one line of a failed command, on stderr."""
    console.print(f"[red]error:[/red] {safe(message)}", soft_wrap=True)


@contextlib.contextmanager
def quiet_c_stderr() -> Iterator[None]:
    """Silence the process's C-level stderr for a moment: libpng and LibRaw print their own
    complaints there ("libpng error: ...", "x.dng: Unexpected end of file") besides failing, and
    lenscal reports each failure itself, in one line."""
    try:
        if sys.stderr:
            sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no stderr at all: nothing to silence
        yield
        return
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def json_ready(value: Any) -> Any:
    """``value`` with NaN and infinities as None and numpy scalars as Python ones: strict JSON."""
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_ready(v) for v in value]
    if hasattr(value, "item") and callable(value.item) and getattr(value, "ndim", 1) == 0:
        value = value.item()  # numpy scalar
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def print_json(value: Any) -> None:
    """Print ``value`` as strict JSON on stdout (no NaN, every non-ASCII character escaped)."""
    text = json.dumps(json_ready(value), indent=2, ensure_ascii=True, allow_nan=False)
    out.file.write(text + "\n")
    out.file.flush()


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
                tasks[stage] = bars.add_task(safe(stage), total=total, info="")
            text = "  ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in info.items())
            bars.update(tasks[stage], completed=done, total=total, info=safe(text))

        yield update
