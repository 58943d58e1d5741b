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


def main() -> None:
    try:
        cli.main(standalone_mode=False)
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
