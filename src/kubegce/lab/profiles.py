"""Boot-lab root filesystems, one per image profile, built on demand with mmdebstrap and cached.

One Debian bookworm base with both programs is built (about 40 s here); the profiles are copies
of it with a package purged:

- ``cloud-init+agent``: Ubuntu-like, cloud-init and the guest agent;
- ``agent-only``: RHEL/Rocky/Debian-like, the guest agent and no cloud-init, plus a local apt
  repository holding cloud-init's .deb files so that ``installCloudInit`` installs it for real;
- ``cloud-init-only``: a custom image with cloud-init and no guest agent;
- ``fcos-like``: neither program; Fedora CoreOS's /etc/os-release; at boot the real Ignition
  (Debian's build) fetches user-data from 169.254.169.254 and runs its files stage on the root
  on first boot only, then the lab starts the systemd units Ignition enabled, on every boot;
  /usr is read-only;
- ``cos-like``: both programs, COS's /etc/os-release and, at boot, COS's file system: read-only
  root, /etc a fresh tmpfs overlay on every boot, /var/lib/cloud a tmpfs (cloud-init re-runs
  user-data every boot), /var and /home persistent but noexec.

A profile is rebuilt when its recipe changes (the cache key is a hash of the recipe).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from kubegce.errors import UserError
from kubegce.images.catalog import ImageProfile, InitPrograms

RECIPE_VERSION = 3  # the base rootfs
DERIVE_VERSION = 2  # how profiles are derived from the base (os-release, SELinux config, ...)
SUITE = "bookworm"
BASE_PACKAGES = (
    "cloud-init", "google-guest-agent", "curl", "ca-certificates", "locales", "util-linux", "procps",
    "apt-utils", "iproute2",
)  # fmt: skip
LOCAL_REPO = "/opt/kubegce-lab/repo"
LogFn = Callable[[str], None]
COS_OS_RELEASE = """NAME="Container-Optimized OS"
ID=cos
PRETTY_NAME="Container-Optimized OS from Google"
HOME_URL="https://cloud.google.com/container-optimized-os/docs"
VERSION=121
VERSION_ID=121
BUILD_ID=18867.0.0
"""
FCOS_OS_RELEASE = """NAME="Fedora Linux"
VERSION="42.20250901.3.0 (CoreOS)"
ID=fedora
VERSION_ID=42
VARIANT="CoreOS"
VARIANT_ID=coreos
PRETTY_NAME="Fedora CoreOS 42.20250901.3.0"
"""


@dataclass(frozen=True)
class LabProfile:
    """How the lab builds a root file system that boots like the catalog images with these init
    programs and this file system (the catalog's ImageProfile says which an image has; see
    :func:`lab_profile_of`); what stays here is only how to build it."""

    name: str
    programs: InitPrograms  # what the rootfs keeps of cloud-init, the guest agent and Ignition
    purge: tuple[str, ...]
    local_repo: bool
    like: str  # the public images this profile stands for
    cos_file_system: bool = False  # mounted as COS mounts its disk (see the module docstring)

    @property
    def cloud_init(self) -> bool:
        return self.programs.cloud_init

    @property
    def guest_agent(self) -> bool:
        return self.programs.guest_agent

    @property
    def ignition(self) -> bool:  # Ignition on first boot, then the units it enabled (Fedora CoreOS)
        return self.programs.ignition

    def serves(self, image: ImageProfile) -> bool:
        return (self.programs, self.cos_file_system) == (image.init_programs, image.cos_file_system)

    def recipe(self) -> dict[str, object]:
        fields = {"name": self.name, "cloud_init": self.cloud_init, "guest_agent": self.guest_agent,
                  "purge": self.purge, "local_repo": self.local_repo, "like": self.like,
                  "cos_file_system": self.cos_file_system, "ignition": self.ignition}  # fmt: skip
        return {"version": RECIPE_VERSION, "derive": DERIVE_VERSION, "suite": SUITE, "base": BASE_PACKAGES, **fields}

    def recipe_hash(self) -> str:
        return hashlib.sha256(json.dumps(self.recipe(), sort_keys=True).encode()).hexdigest()[:12]


def _programs(*, agent: bool, cloud_init: bool, ignition: bool = False) -> InitPrograms:
    return InitPrograms(guest_agent=agent, cloud_init=cloud_init, ignition=ignition)


PROFILES: dict[str, LabProfile] = {
    p.name: p
    for p in (
        LabProfile("cloud-init+agent", _programs(agent=True, cloud_init=True), (), False, "Ubuntu, COS"),
        LabProfile("agent-only", _programs(agent=True, cloud_init=False), ("cloud-init",), True,
                   "RHEL, Rocky, CentOS, Alma, Debian, SLES"),
        LabProfile("cloud-init-only", _programs(agent=False, cloud_init=True), ("google-guest-agent",), False,
                   "custom images with cloud-init only"),
        LabProfile("cos-like", _programs(agent=True, cloud_init=True), (), False, "Container-Optimized OS",
                   cos_file_system=True),
        LabProfile("fcos-like", _programs(agent=False, cloud_init=False, ignition=True),
                   ("cloud-init", "google-guest-agent"), False, "Fedora CoreOS"),
    )
}  # fmt: skip


def lab_profile_of(image: ImageProfile) -> LabProfile | None:
    """The lab profile that boots like this catalog image (its init programs and file system)."""
    return next((lp for lp in PROFILES.values() if lp.serves(image)), None)


def cache_dir() -> Path:
    return Path(os.environ.get("KUBEGCE_LAB_CACHE", str(Path.home() / ".cache" / "kubegce" / "lab")))


def _run(cmd: list[str], what: str) -> None:
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise UserError(f"boot lab: {what} failed (exit {res.returncode}):\n{(res.stderr or res.stdout)[-2000:]}")


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def _base_key() -> str:
    recipe = {"version": RECIPE_VERSION, "suite": SUITE, "base": BASE_PACKAGES}
    return hashlib.sha256(json.dumps(recipe, sort_keys=True).encode()).hexdigest()[:12]


def build_base(log: LogFn) -> Path:
    """The shared base: both programs, locales, /etc/hosts, and the downloaded .debs kept."""
    root = cache_dir() / f"base-{_base_key()}"
    with _locked(cache_dir() / ".lock-base"):
        if (root / ".kubegce-lab-complete").exists():
            return root
        if shutil.which("mmdebstrap") is None:
            raise UserError(
                "boot lab: mmdebstrap is not installed; `apt-get install mmdebstrap` (or run scripts/install-test-tools.sh)"
            )
        tmp = root.with_name(root.name + ".building")
        shutil.rmtree(tmp, ignore_errors=True)
        log(f"building the lab base rootfs with mmdebstrap ({SUITE}); cached in {root}")
        hooks = [
            'echo "en_US.UTF-8 UTF-8" > "$1/etc/locale.gen" && chroot "$1" locale-gen >/dev/null',
            'printf "127.0.0.1 localhost\\n" > "$1/etc/hosts"',
            f'mkdir -p "$1{LOCAL_REPO}" && cp "$1"/var/cache/apt/archives/*.deb "$1{LOCAL_REPO}/"'
            f' && chroot "$1" sh -c "cd {LOCAL_REPO} && apt-ftparchive packages . > Packages"',
        ]
        cmd = ["mmdebstrap", "--variant=minbase", "--skip=cleanup/apt/cache", f"--include={','.join(BASE_PACKAGES)}"]
        cmd += [f"--customize-hook={h}" for h in hooks]
        cmd += [SUITE, str(tmp)]
        _run(cmd, "mmdebstrap")
        shutil.rmtree(tmp / "var/cache/apt/archives", ignore_errors=True)
        (tmp / "var/cache/apt/archives/partial").mkdir(parents=True, exist_ok=True)
        (tmp / ".kubegce-lab-complete").write_text(json.dumps({"packages": BASE_PACKAGES}))
        os.replace(tmp, root)
        return root


def profile_rootfs(profile: LabProfile, log: LogFn) -> Path:
    """The profile's rootfs (read-only lower layer for every boot), built from the base if needed."""
    root = cache_dir() / f"{profile.name}-{profile.recipe_hash()}"
    if (root / ".kubegce-lab-complete").exists():
        return root
    base = build_base(log)
    with _locked(cache_dir() / f".lock-{profile.name}"):
        if (root / ".kubegce-lab-complete").exists():
            return root
        tmp = root.with_name(root.name + ".building")
        shutil.rmtree(tmp, ignore_errors=True)
        log(f"deriving lab profile {profile.name} from the base")
        _run(["cp", "-a", str(base), str(tmp)], "copying the base rootfs")
        if profile.purge:
            _run(["chroot", str(tmp), "dpkg", "--purge", *profile.purge], f"purging {', '.join(profile.purge)}")
        if profile.cos_file_system or profile.ignition:
            os_release = tmp / "etc/os-release"
            os_release.unlink()
            os_release.write_text(COS_OS_RELEASE if profile.cos_file_system else FCOS_OS_RELEASE)
        if profile.ignition:  # Ignition's files stage labels what it wrote with this policy's contexts
            (tmp / "etc/selinux").mkdir(exist_ok=True)
            (tmp / "etc/selinux/config").write_text("SELINUX=enforcing\nSELINUXTYPE=targeted\n")
        sources = tmp / "etc/apt/sources.list.d"
        for f in sources.glob("*"):
            f.unlink()
        (tmp / "etc/apt/sources.list").write_text(
            f"deb [trusted=yes] file:{LOCAL_REPO} ./\n" if profile.local_repo else ""
        )
        if not profile.local_repo:
            shutil.rmtree(tmp / LOCAL_REPO.lstrip("/"), ignore_errors=True)
        (tmp / ".kubegce-lab-complete").write_text(json.dumps(profile.recipe()))
        os.replace(tmp, root)
    return root
