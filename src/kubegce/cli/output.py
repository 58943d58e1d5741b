"""Printing data as table, yaml or json (stdout), and messages on stderr."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

import click
import yaml

OUTPUT_CHOICES = click.Choice(["table", "yaml", "json"])


F = TypeVar("F", bound=Callable[..., Any])


def output_option(default: str = "table") -> Callable[[F], F]:
    return click.option("-o", "--output", "output", type=OUTPUT_CHOICES, default=default, show_default=True,
                        help="Output format.")  # fmt: skip


def emit(data: Any, fmt: str, *, columns: Sequence[str] = (), rows: Sequence[Sequence[Any]] = ()) -> None:
    if fmt == "json":
        click.echo(json.dumps(data, indent=2, sort_keys=False))
    elif fmt == "yaml":
        click.echo(yaml.safe_dump(data, sort_keys=False).rstrip())
    else:
        print_table(columns, rows)


def print_table(columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    cells = [[str(c) for c in columns]] + [["" if v is None else str(v) for v in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(columns))]
    for r in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip())


def warn(message: str) -> None:
    click.echo(f"warning: {message}", err=True)


def info(message: str) -> None:
    click.echo(message, err=True)


@contextlib.contextmanager
def status(message: str) -> Iterator[None]:
    """A spinner on stderr for work that may take seconds (plain line when not a terminal)."""
    from rich.console import Console

    console = Console(stderr=True)
    if not console.is_terminal:
        console.print(f"{message}...", highlight=False)
        yield
        return
    with console.status(message):
        yield
