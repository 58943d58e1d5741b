"""`kubegce replace -f FILE`: replace stored cluster specs with edited documents (as `get -o yaml` prints)."""

from __future__ import annotations

import click

from kubegce import service
from kubegce.cli.common import load_catalog, next_step, read_spec_inputs, repository
from kubegce.cli.output import info, warn
from kubegce.errors import UserError


@click.command("replace")
@click.option("-f", "--filename", "filenames", multiple=True, type=click.Path(dir_okay=False),
              help="kubegce or kOps YAML documents ('-' reads stdin), e.g. from `kubegce get cluster NAME -o yaml`.")  # fmt: skip
@click.option("--force", is_flag=True, help="Keep a boot channel the image cannot run.")
@click.pass_context
def command(ctx: click.Context, filenames: tuple[str, ...], force: bool) -> None:
    """Replace existing cluster specs (validated like create; a concurrent change is refused)."""
    if not filenames:
        raise UserError("replace: give -f FILE (e.g. the output of `kubegce get cluster NAME -o yaml`)")
    bundles, warnings = read_spec_inputs(filenames)
    repo = repository(ctx)
    more, changed = service.replace_clusters(repo, bundles, load_catalog(), force=force)
    for w in [*warnings, *more]:
        warn(w)
    if not changed:
        info("no change")
        return
    for line in changed:
        info(f"replaced {line}")
    name = bundles[0].cluster.name if len(bundles) == 1 else "NAME"
    next_step(f"`kubegce update cluster {name}` shows what changes in the cloud")
