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


# verb -> (module under kubegce.cli, attribute, one-line help). A verb's module is imported only
# when that verb runs (or completes), so `kubegce --help` and offline verbs start quickly; the
# help lines here are checked against the commands by tests/unit/test_startup.py.
VERBS: dict[str, tuple[str, str, str]] = {
    "create": (
        "create",
        "command",
        "Create a cluster spec in the state store (nothing touches a cloud until `update`).",
    ),
    "get": ("get", "command", "List clusters, instance groups and etcd backups in the state store."),
    "edit": ("edit", "command", "Change a stored spec field by field, or in $KUBE_EDITOR / $EDITOR."),
    "replace": (
        "replace",
        "command",
        "Replace existing cluster specs (validated like create; a concurrent change is refused).",
    ),
    "update": ("update", "command", "Show or apply what a cluster's spec asks for."),
    "rolling-update": ("rolling", "command", "Replace instances whose instance template is not their group's."),
    "images": ("images", "command", "What kubegce knows of GCE images and how it boots them."),
    "delete": ("delete", "command", "Delete clusters."),
    "emulator": (
        "emulator",
        "command",
        "Serve the Compute API subset kubegce uses on 127.0.0.1 (see docs/emulator.md).",
    ),
    "demo": ("demo", "command", "Run kubegce end to end on the local GCE emulator (nothing leaves 127.0.0.1)."),
    "lab": ("lab", "command", "The boot lab: real cloud-init and google_metadata_script_runner in namespaces (root)."),
    "diagnose": ("diagnose", "command", "Say why a node did not initialize."),
    "validate": (
        "validate",
        "command",
        "Check that a cluster's groups are at size and its nodes initialized (and Ready).",
    ),
    "backup": ("backup", "command", "Back a cluster's etcd up to the state store now."),
    "restore": ("restore", "command", "Bring a cluster back to one of its etcd backups."),
    "rotate": ("secrets", "rotate", "Replace secrets."),
    "export": ("secrets", "export", "Export credentials."),
    "version": ("main", "version", "Print kubegce's version."),
    "completion": ("main", "completion", "Print a shell completion script: bash, zsh or fish."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(VERBS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in VERBS:
            return None
        import importlib

        module, attr, _ = VERBS[cmd_name]
        found = getattr(importlib.import_module(f"kubegce.cli.{module}"), attr)
        assert isinstance(found, click.Command)
        return found

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Commands"):
            formatter.write_dl([(name, help_) for name, (_, _, help_) in VERBS.items()])


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="kubegce")
@click.option("--state", "state_url", envvar="KUBEGCE_STATE", metavar="URL",
              help="State store: file:///path or gs://bucket/prefix [env KUBEGCE_STATE; "
                   "default file://~/.kubegce/state].")  # fmt: skip
@click.option("--endpoint", "endpoint", envvar="KUBEGCE_COMPUTE_ENDPOINT", metavar="URL",
              help="Compute API endpoint for every verb, e.g. `kubegce emulator` [env KUBEGCE_COMPUTE_ENDPOINT]; "
                   "verbs that talk to the API take it after the verb too.")  # fmt: skip
@click.pass_context
def cli(ctx: click.Context, state_url: str | None, endpoint: str | None) -> None:
    """Self-managed Kubernetes on Google Compute Engine, on every GCE image.

    kubegce keeps cluster specs in a state store, picks for each instance group the boot channel
    its image can run (startup-script, user-data, Ignition), and applies the cluster through the
    Compute API, as Terraform, or as a dry-run plan.
    """
    ctx.obj = AppContext(state_url=state_url)
    if endpoint is not None and not endpoint:  # `--endpoint=` (an empty $VAR): never the real API by accident
        raise UserError(
            "--endpoint is empty: give the emulator's URL (e.g. http://127.0.0.1:8780), or leave --endpoint "
            "out to use the real Compute API"
        )
    from_env = ctx.get_parameter_source("endpoint") == click.core.ParameterSource.ENVIRONMENT
    if endpoint and not from_env:  # the verbs read it from the environment (their own --endpoint defaults to it)
        # (a value from the environment is checked by the verbs that call the API: a typo in the
        # shell's KUBEGCE_COMPUTE_ENDPOINT must not break `version`, `completion` or `--help`)
        import os

        from kubegce.net import check_endpoint

        os.environ["KUBEGCE_COMPUTE_ENDPOINT"] = check_endpoint(endpoint, "--endpoint / KUBEGCE_COMPUTE_ENDPOINT")


@click.command("version")
def version() -> None:
    """Print kubegce's version."""
    click.echo(f"kubegce {__version__}")


@click.command("completion")
@click.argument("shell", type=click.Choice(["bash", "zsh", "fish"]))
def completion(shell: str) -> None:
    """Print a shell completion script: bash, zsh or fish.

    \b
    bash: kubegce completion bash > ~/.local/share/bash-completion/completions/kubegce
    zsh:  kubegce completion zsh > "${fpath[1]}/_kubegce"
    fish: kubegce completion fish > ~/.config/fish/completions/kubegce.fish
    """
    from click.shell_completion import get_completion_class

    cls = get_completion_class(shell)
    assert cls is not None
    click.echo(cls(cli, {}, "kubegce", "_KUBEGCE_COMPLETE").source())


GLOBAL_OPTIONS = ("--state", "--endpoint")


def hoist_global_options(args: list[str]) -> list[str]:
    """kOps habit: `kubegce create cluster NAME --state URL` works like `kubegce --state URL create ...`
    (and `--endpoint` likewise).

    A global option written after the verb (as ``--state URL`` or ``--state=URL``) moves in front of it,
    after any global options written before it, so the one written last wins; ``--state-only`` and
    the like are other options and stay. Nothing moves after ``--``."""
    front: list[str] = []
    rest: list[str] = []
    verb_at: int | None = None  # where the verb is in rest
    i = 0
    while i < len(args):
        arg = args[i]
        if arg == "--":
            rest.extend(args[i:])
            break
        name = arg.split("=", 1)[0]
        if name in GLOBAL_OPTIONS and verb_at is not None:
            if "=" in arg:
                front.append(arg)
                i += 1
            elif i + 1 < len(args):
                front.extend(args[i : i + 2])
                i += 2
            else:  # moved in front of the verb, it would take the verb as its value
                raise click.UsageError(f"Option '{arg}' requires an argument.")
            continue
        if not arg.startswith("-") and verb_at is None:
            verb_at = len(rest)
        elif name in GLOBAL_OPTIONS and "=" not in arg:  # before the verb: its value is not the verb
            rest.extend(args[i : i + 2])
            i += 2
            continue
        rest.append(arg)
        i += 1
    at = len(rest) if verb_at is None else verb_at
    return rest[:at] + front + rest[at:]


def google_api_error(exc: BaseException) -> str | None:
    """One line for an error a Google API answered that no verb handled (a 403 on the first call of
    a plan: a wrong project, the API not enabled, missing roles), or None for other exceptions."""
    gexc = sys.modules.get("google.api_core.exceptions")  # loaded when a cloud verb ran
    if gexc is None or not isinstance(exc, gexc.GoogleAPICallError):
        return None
    first = (str(exc).splitlines() or [type(exc).__name__])[0]
    first = first if len(first) <= 300 else first[:300] + "..."
    hint = {
        401: "the credentials were refused: run `gcloud auth application-default login`",
        403: "check spec.project, that the Compute Engine API is enabled in it, and your account's roles there",
        404: "check spec.project (does the project exist?) and the zone and names in the spec",
    }.get(int(exc.code or 0), "re-run; if it persists, check the project and the endpoint")
    return f"the Google API refused a call: {first}; {hint}"


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
    except Exception as exc:
        message = google_api_error(exc)
        if message is None:
            raise
        click.echo(f"error: {message}", err=True)
        sys.exit(1)
    sys.exit(0)
