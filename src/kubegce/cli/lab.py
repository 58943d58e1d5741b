"""`kubegce lab boot --image IMAGE`: boot rendered metadata with the real guest software."""

from __future__ import annotations

from pathlib import Path

import click
import yaml
from pydantic import ValidationError

from kubegce.cli.output import emit, info, output_option
from kubegce.errors import UserError


@click.group("lab")
def command() -> None:
    """The boot lab: real cloud-init and google_metadata_script_runner in namespaces (root)."""


@command.command("boot")
@click.option("--image", required=True, help="Image whose profile to boot, e.g. rocky-linux-cloud/rocky-linux-9.")
@click.option("--profile", type=click.Choice(["cloud-init+agent", "agent-only", "cloud-init-only", "cos-like", "fcos-like"]),
              help="Lab profile to boot (default: the one matching the image).")  # fmt: skip
@click.option("--channel", type=click.Choice(["auto", "startup-script", "user-data", "both"]), default="auto",
              show_default=True)  # fmt: skip
@click.option("--additional-user-data", "parts_file", type=click.Path(exists=True, dir_okay=False),
              help="YAML list of {name, type, content} parts.")  # fmt: skip
@click.option("--install-cloud-init", is_flag=True, help="spec.bootstrap.installCloudInit: true")
@click.option("--fail-at", default="", help="Inject a failure at this bootstrap step (e.g. install_binaries).")
@click.option("--reboot", is_flag=True, help="Boot a second time on the same disk.")
@output_option()
def lab_boot(image: str, profile: str | None, channel: str, parts_file: str | None, install_cloud_init: bool,
             fail_at: str, reboot: bool, output: str) -> None:  # fmt: skip
    """Render a node's metadata for IMAGE, boot it in the lab, and print what ran."""
    from kubegce.lab.profiles import PROFILES
    from kubegce.lab.run import LabMachine, check_can_run, lab_bundle, lab_catalog, profile_for, render_node_metadata
    from kubegce.spec.models import BootChannel, UserDataPart

    check_can_run()
    parts = []
    if parts_file:
        try:
            raw = yaml.safe_load(Path(parts_file).read_text()) or []
            if not isinstance(raw, list):
                raise UserError(f"--additional-user-data {parts_file}: write a YAML list of {{name, type, content}}")
            parts = [UserDataPart.model_validate(p) for p in raw]
        except (OSError, yaml.YAMLError, ValidationError) as exc:
            raise UserError(f"--additional-user-data {parts_file}: {exc}") from None
    lab_profile = PROFILES[profile] if profile else profile_for(lab_catalog(), image)
    bundle = lab_bundle(image, channel=BootChannel(channel), parts=parts, install_cloud_init=install_cloud_init)
    metadata, plan_channel = render_node_metadata(bundle)
    info(f"image {image}: lab profile {lab_profile.name}; kubegce channel {plan_channel}")
    rows = []
    data = []
    with LabMachine(lab_profile, metadata, log=info) as machine:
        for n in range(2 if reboot else 1):
            result = machine.boot(fail_at=fail_at if n == 0 else "")
            label = "boot" if n == 0 else "reboot"
            fired = ", ".join(f"{ch}:{res}" for ch, res in result.invocations) or "nothing ran the bootstrap"
            for p in result.phases:
                rows.append((label, fired, p.phase, f"{p.seconds:.3f}", p.step, p.error))
            if not result.phases:
                rows.append((label, fired, "-", "", "", ""))
            data.append({"boot": label, "invocations": result.invocations,
                         "phases": [p.__dict__ for p in result.phases],
                         "guestAttributes": result.guest_attributes, "seconds": result.seconds,
                         "runnerFoundNoScript": result.runner_found_nothing})  # fmt: skip
            if result.runner_found_nothing:
                info(f"{label}: google_metadata_script_runner: No startup scripts to run.")
            info(f"{label}: guest attributes {result.guest_attributes}; {result.seconds:.2f}s")
    emit(data, output, columns=("BOOT", "BOOTSTRAP INVOCATIONS", "PHASE", "AT (s)", "STEP", "ERROR"), rows=rows)
