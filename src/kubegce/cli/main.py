"""The `kubegce` command. Verb groups live in their own modules; this one wires them and turns
user errors into one clear message and an exit code (never a traceback)."""

from __future__ import annotations

import sys
from dataclasses import dataclass

import click

from kubegce import __version__
from kubegce.errors import UserError


@dataclass
class AppContext:
    state_url: str | None


@click.group(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="kubegce")
@click.option("--state", "state_url", envvar="KUBEGCE_STATE", metavar="URL",
              help="State store: file:///path or gs://bucket/prefix [env KUBEGCE_STATE; "
                   "default file://~/.kubegce/state].")  # fmt: skip
@click.pass_context
def cli(ctx: click.Context, state_url: str | None) -> None:
    """Self-managed Kubernetes on Google Compute Engine, on every GCE image.

    kubegce keeps cluster specs in a state store, picks for each instance group the boot channel
    its image can run (startup-script, user-data, Ignition), and applies the cluster through the
    Compute API, as Terraform, or as a dry-run plan.
    """
    ctx.obj = AppContext(state_url=state_url)


def _register() -> None:
    from kubegce.cli import (
        create,
        delete,
        demo,
        diagnose,
        edit,
        emulator,
        get,
        images,
        lab,
        rolling,
        update,
        validate,  # fmt: skip
    )

    for module in (create, get, edit, update, rolling, images, delete, emulator, demo, lab, diagnose, validate):
        cli.add_command(module.command)
    from kubegce.cli import secrets

    cli.add_command(secrets.rotate)
    cli.add_command(secrets.export)


_register()


GLOBAL_OPTIONS = ("--state",)


def hoist_global_options(args: list[str]) -> list[str]:
    """kOps habit: `kubegce create cluster NAME --state URL` works like `kubegce --state URL create ...`.

    A global option written after the verb (as ``--state URL`` or ``--state=URL``) moves in front of it;
    ``--state-only`` and the like are other options and stay. Nothing moves after ``--``."""
    front: list[str] = []
    rest: list[str] = []
    i = 0
    seen_verb = False
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest.extend(args[i:])
            break
        name = arg.split("=", 1)[0]
        if name in GLOBAL_OPTIONS and seen_verb:
            if "=" in arg:
                front.append(arg)
                i += 1
            else:
                front.extend(args[i : i + 2])
                i += 2
            continue
        if not arg.startswith("-") and not seen_verb:
            seen_verb = True
        elif name in GLOBAL_OPTIONS and "=" not in arg:  # before the verb: its value is not the verb
            rest.extend(args[i : i + 2])
            i += 2
            continue
        rest.append(arg)
        i += 1
    return front + rest


def main() -> None:
    try:
        cli.main(args=hoist_global_options(sys.argv[1:]), standalone_mode=False)
    except UserError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError:
        sys.exit(1)
    sys.exit(0)
