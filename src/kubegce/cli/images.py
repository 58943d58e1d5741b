"""`kubegce images list | resolve IMAGE`."""

from __future__ import annotations

import click

from kubegce.boot.matrix import MATRIX_COLUMNS, default_channel, matrix_rows, profile_dict, yes
from kubegce.cli.common import endpoint_option, load_catalog
from kubegce.cli.output import emit, output_option


@click.group("images")
def command() -> None:
    """What kubegce knows of GCE images and how it boots them."""


@command.command("list")
@output_option()
def images_list(output: str) -> None:
    """The support matrix: every catalog family, its init programs and the default channel."""
    catalog = load_catalog()
    rows = matrix_rows(catalog)
    data = [dict(zip([c.lower() for c in MATRIX_COLUMNS], r, strict=True)) for r in rows]
    emit(data, output, columns=MATRIX_COLUMNS, rows=rows)


@command.command("resolve")
@click.argument("image")
@endpoint_option
@click.option("--read-api", is_flag=True, help="Read the image resource through the Compute API.")
@output_option()
def images_resolve(image: str, endpoint: str | None, read_api: bool, output: str) -> None:
    """What kubegce knows of IMAGE and the channel `auto` would pick."""
    catalog = load_catalog()
    reader = None
    if read_api or endpoint:
        from kubegce.cloud.gce.images import ComputeImageReader

        reader = ComputeImageReader.create(endpoint)
    resolved = catalog.resolve(image, reader)
    channel = default_channel(resolved)
    from kubegce.images.fit import image_warnings, not_found_problem

    warnings = image_warnings(resolved, catalog, offline=reader is None)
    warnings += [w for w in [not_found_problem(resolved, catalog)] if w]
    data = {
        "ref": resolved.ref, "sourceImage": resolved.source_image, "how": resolved.how,
        "known": resolved.known, "evidence": list(resolved.evidence), "profile": profile_dict(resolved.profile),
        "channel": channel, "warnings": warnings,
    }  # fmt: skip
    p = resolved.profile
    rows = [
        ("image", resolved.ref), ("sourceImage", resolved.source_image), ("resolved by", resolved.how),
        ("os", p.label if p else "unknown"), ("cloud-init", yes(p.cloud_init) if p else "?"),
        ("guest agent", yes(p.guest_agent) if p else "?"), ("ignition", yes(p.ignition) if p else "?"),
        ("package manager", p.package_manager if p else "?"), ("channel (auto)", channel),
    ] + [("warning", w) for w in warnings]  # fmt: skip
    emit(data, output, columns=("FIELD", "VALUE"), rows=rows)


@command.command("probe")
@click.argument("image")
@click.option("--project", required=True, help="Project to run the short-lived probe instance in.")
@click.option("--zone", required=True)
@endpoint_option
@click.option("--timeout", "timeout_s", type=float, default=600.0, show_default=True, help="Seconds to wait.")
@click.option("--poll", "poll_s", type=float, default=5.0, show_default=True, help="Seconds between polls.")
@output_option()
def images_probe(image: str, project: str, zone: str, endpoint: str | None, timeout_s: float, poll_s: float,
                 output: str) -> None:  # fmt: skip
    """Boot IMAGE briefly, learn which init programs it runs, and record it in the user catalog."""
    from kubegce.cli.common import user_catalog_path
    from kubegce.cli.output import info
    from kubegce.cloud.gce.client import ComputeClients
    from kubegce.diagnose.probe import probe_image, record

    resolved = load_catalog().resolve(image)
    result = probe_image(ComputeClients.create(endpoint), project, zone, resolved, timeout_s=timeout_s,
                         poll_s=poll_s, settle_s=max(3 * poll_s, 10.0), log=info)  # fmt: skip
    entry = result.catalog_entry(resolved)
    path = user_catalog_path()
    record(path, entry)
    info(f"recorded in {path}; `kubegce images resolve {image}` now knows it")
    rows = [(k, str(v)) for k, v in entry.items()]
    emit(entry, output, columns=("FIELD", "VALUE"), rows=rows)
