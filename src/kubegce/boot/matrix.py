"""The support matrix (`kubegce images list`) and docs/images.md, both from the catalog.

Regenerate the doc with `python -m kubegce.boot.matrix > docs/images.md`.
"""

from __future__ import annotations

from typing import Any

from kubegce.boot.channel import decide_channel
from kubegce.images.catalog import Catalog, ImageProfile, ResolvedImage
from kubegce.images.gpu_profiles import gpu_profile
from kubegce.spec.models import BootstrapSpec


def yes(flag: bool) -> str:
    return "yes" if flag else "no"


def profile_dict(p: ImageProfile | None) -> dict[str, Any] | None:
    if p is None:
        return None
    return {
        "project": p.project, "os": p.os, "version": p.version, "families": list(p.families),
        "cloudInit": p.cloud_init, "guestAgent": p.guest_agent, "ignition": p.ignition,
        "packageManager": p.package_manager, "readOnlyRoot": p.read_only_root, "note": p.note,
    }  # fmt: skip


def default_channel(image: ResolvedImage) -> str:
    return decide_channel(image, BootstrapSpec(), where="image").metadata_channel


def matrix_rows(catalog: Catalog) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    for p in catalog.profiles:
        image = ResolvedImage(f"{p.project}/{p.families[0]}", p.project, p.families[0], None, p, "catalog")
        rows.append(
            (
                p.project,
                ", ".join(p.families),
                p.label,
                yes(p.cloud_init),
                yes(p.guest_agent),
                yes(p.ignition),
                p.package_manager,
                yes(p.read_only_root),
                default_channel(image),
                _gpu(p),
            )  # fmt: skip
        )
    return rows


MATRIX_COLUMNS = ("PROJECT", "FAMILIES", "OS", "CLOUD-INIT", "GUEST-AGENT", "IGNITION", "PACKAGES",
                  "READ-ONLY-ROOT", "CHANNEL", "GPU")  # fmt: skip


def _gpu(p: ImageProfile) -> str:
    """The GPU column: how the driver will go in (its method; "+sb" when secure boot can stay on)."""
    g = gpu_profile(p)
    if g is None or not g.supported:
        return "no"
    return g.method + ("+sb" if g.secure_boot else "")


HEADER = """# Image support matrix

Generated from `src/kubegce/images/catalog.yaml` by `python -m kubegce.boot.matrix`; a test
fails when this file is stale. `kubegce images list` prints the same table.

The channel is what `spec.bootstrap.channel: auto` picks with no additional user data. With
cloud-config parts: images with cloud-init switch to `user-data` (MIME); images without it need
`installCloudInit: true` (startup-script installs cloud-init and runs it on the first boot) or the
spec is refused. Fedora CoreOS always gets an Ignition v3 config in `user-data`. Images the
catalog cannot place get `both`.

The GPU column is the image's GPU profile (catalog.yaml `gpu_profiles`): how the NVIDIA driver
will go in (`cos-extensions`, `apt`, `dnf-nvidia`; `+sb` when its modules are signed so secure boot
can stay on), or `no` when GPU groups are refused on it. The driver install itself is not built
yet (docs/gpus.md).

The boot lab (`kubegce lab boot --image IMAGE`) boots each kind of row on a Debian root file
system with the real guest software: `cloud-init+agent` (Ubuntu), `agent-only` (Debian, RHEL,
Rocky, CentOS, AlmaLinux, SLES), `cloud-init-only` (custom images), `cos-like` (COS: read-only
root, /etc rebuilt on every boot, noexec /var and /home) and `fcos-like` (Fedora CoreOS: the real
Ignition on first boot, then the unit it enabled on every boot). The distributions' own packages,
kernels and init systems are not booted; kubeadm, containerd and host changes are stand-ins.

"""


def render(catalog: Catalog) -> str:
    lines = ["| " + " | ".join(c.lower() for c in MATRIX_COLUMNS) + " |", "|" + "---|" * len(MATRIX_COLUMNS)]
    for row in matrix_rows(catalog):
        lines.append("| " + " | ".join(row) + " |")
    notes = [f"- {p.project} {p.label}: {p.note}" for p in catalog.profiles if p.note]
    return HEADER + "\n".join(lines) + "\n\nNotes:\n" + "\n".join(notes) + "\n" + render_naming(catalog)


PIPE = "\\|"  # a `|` inside a table cell (GitHub tables, also in code spans)


def render_naming(catalog: Catalog) -> str:
    """The naming rules and how each entry was checked (catalog.yaml ``naming``, ``verified``)."""
    if not catalog.rules:
        return ""
    out = [f"\n## Naming rules (checked {catalog.checked})\n",
           "A family or dated image name that no row lists is placed by its project's rule: the row of",
           "that OS and version, or for a version no row lists the nearest older row's profile with a",
           "warning when the version is newer (or older) than any the catalog has seen. Offline, a name",
           "in these projects that no rule matches is a warning; with a Compute API it is looked up",
           "(images.get, images.getFromFamily) and refused only when the API answers not found.\n",
           "| project | os | family | dated image | version |", "|---|---|---|---|---|"]  # fmt: skip
    for r in catalog.rules:
        fam = f"`{r.family.pattern}`".replace("|", PIPE) if r.family else ""
        img = f"`{r.image.pattern}`".replace("|", PIPE) if r.image else ""
        out.append(f"| {r.project} | {r.os} | {fam} | {img} | {r.version} |")
    out += ["", f"How each row was checked on {catalog.checked}: `search` = seen in Google's or the vendor's",
            "published pages, `inferred` = from the project's naming pattern only (not seen published),",
            "`earlier` = in the catalog before that check, not re-checked.", ""]  # fmt: skip
    out += [f"- {p.project} {p.label}: {p.verified}" for p in catalog.profiles if p.verified]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    print(render(Catalog.load()), end="")
