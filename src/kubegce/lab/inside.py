"""One lab boot, run inside fresh mount/uts/ipc/net/pid namespaces (see :mod:`kubegce.lab.run`).

    unshare --mount --uts --ipc --net --pid --fork --propagation private \
        python -m kubegce.lab.inside JOB.json

Brings up `lo` (the namespace has no other interface), sets the instance's hostname (in its own
UTS namespace), mounts an overlay of the cached rootfs with the boot's upper layer, fresh /proc,
/dev (its own device nodes), /run and /tmp, and a fake GCE DMI directory; starts the metadata
server on 127.0.0.1; then runs what the image would run on boot: cloud-init's four stages where
cloud-init is installed, then `google_metadata_script_runner startup` (a copy patched to the lab
metadata server) where the guest agent is. Results go to the job's result file.
"""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from kubegce.emulator.metadata import InstanceIdentity, MetadataServer, MetadataStore
from kubegce.lab.assets import write_lab_files

RUNNER = "/usr/bin/google_metadata_script_runner"
LAB_RUNNER = "/opt/kubegce-lab/google_metadata_script_runner"
REAL_METADATA = b"http://169.254.169.254/computeMetadata/v1"
CLOUD_INIT_STAGES = (["init", "--local"], ["init"], ["modules", "--mode=config"], ["modules", "--mode=final"])
DMI = {
    "product_name": "Google Compute Engine",
    "sys_vendor": "Google",
    "bios_vendor": "Google",
    "chassis_asset_tag": "",
    "product_serial": "GoogleCloud-KUBEGCE-LAB",
    "product_uuid": "6b0f6c4a-8d6e-4c57-a6f6-6b5b0e0f4c1a",
}


def sh(cmd: list[str]) -> None:
    subprocess.run(cmd, check=True, capture_output=True)


def mount(fstype: str, source: str, target: Path, options: str = "") -> None:
    target.mkdir(parents=True, exist_ok=True)
    cmd = ["mount", "-t", fstype]
    if options:
        cmd += ["-o", options]
    sh([*cmd, source, str(target)])


def prepare_root(job: dict[str, Any]) -> Path:
    merged = Path(job["merged"])
    for d in (job["upper"], job["work"], job["merged"]):
        Path(d).mkdir(parents=True, exist_ok=True)
    mount("overlay", "overlay", merged, f"lowerdir={job['lower']},upperdir={job['upper']},workdir={job['work']}")
    mount("proc", "proc", merged / "proc")
    mount("tmpfs", "tmpfs", merged / "dev", "mode=0755,size=4m")
    for name, major, minor in (("null", 1, 3), ("zero", 1, 5), ("random", 1, 8), ("urandom", 1, 9), ("tty", 5, 0)):
        node = merged / "dev" / name
        os.mknod(node, 0o666 | 0o020000, os.makedev(major, minor))
        os.chmod(node, 0o666)
    # as devtmpfs/udev leave them: bash's process substitution, <(...), opens /dev/fd/N
    for name, target in (("fd", "/proc/self/fd"), ("stdin", "/proc/self/fd/0"), ("stdout", "/proc/self/fd/1"),
                         ("stderr", "/proc/self/fd/2")):  # fmt: skip
        os.symlink(target, merged / "dev" / name)
    (merged / "dev/shm").mkdir(exist_ok=True)
    (merged / "dev/pts").mkdir(exist_ok=True)
    for target in ("run", "tmp"):
        mount("tmpfs", "tmpfs", merged / target, "mode=1777,size=64m")
    mount("tmpfs", "tmpfs", merged / "sys", "mode=0755,size=1m")
    dmi = merged / "sys/class/dmi/id"
    dmi.mkdir(parents=True)
    for key, value in DMI.items():
        (dmi / key).write_text(value + "\n")
    fake_gpus(merged / "sys", int(job.get("gpus") or 0), bool(job.get("secure_boot")))
    if job.get("nouveau") and not nouveau_blacklisted(merged):
        (merged / "sys/module/nouveau").mkdir(parents=True)  # the kernel's driver took the GPUs at boot
    return merged


def nouveau_blacklisted(merged: Path) -> bool:
    """Whether the disk's modprobe.d keeps nouveau from loading at boot (the initramfs has it too)."""
    return any("blacklist nouveau" in f.read_text(errors="replace").splitlines()
               for f in (merged / "etc/modprobe.d").glob("*.conf"))  # fmt: skip


SECURE_BOOT_VAR = "firmware/efi/efivars/SecureBoot-8be4df61-93ca-11d2-aa0d-00e098032b8c"
NVIDIA_VENDOR = "0x10de"
NVIDIA_3D_CLASS = "0x030200"  # a 3D controller: the data-center GPUs GCE attaches


def fake_gpus(sys_dir: Path, count: int, secure_boot: bool) -> None:
    """What a GPU VM's /sys shows lib/gpu.sh: COUNT NVIDIA PCI devices (vendor, class) beside a
    virtio NIC, and UEFI's SecureBoot variable (4 attribute bytes, then 1 or 0)."""
    devices = sys_dir / "bus/pci/devices"
    nic = devices / "0000:00:04.0"
    nic.mkdir(parents=True)
    (nic / "vendor").write_text("0x1af4\n")
    (nic / "class").write_text("0x020000\n")
    for n in range(count):
        dev = devices / f"0000:00:{5 + n:02x}.0"
        dev.mkdir()
        (dev / "vendor").write_text(NVIDIA_VENDOR + "\n")
        (dev / "class").write_text(NVIDIA_3D_CLASS + "\n")
    var = sys_dir / SECURE_BOOT_VAR
    var.parent.mkdir(parents=True)
    var.write_bytes(bytes([6, 0, 0, 0, 1 if secure_boot else 0]))


def restrict_mount(path: Path, options: str) -> None:
    """Give PATH these mount flags (ro, noexec, ...) on its own mount: a bind onto itself first,
    unless it is a mount point already. Inside the boot's mount namespace only."""
    if not os.path.ismount(path):
        sh(["mount", "--bind", str(path), str(path)])
    sh(["mount", "-o", f"remount,bind,{options}", str(path)])


def cos_mounts(job: dict[str, Any], merged: Path) -> None:
    """COS's disk as its boot leaves it (before anything is written): /var and /home persistent but
    noexec, /var/lib/cloud a tmpfs, and /etc the image's /etc under a tmpfs that a reboot throws
    away. The root goes read-only later, once the lab's own files are in place."""
    for d in ("var", "home"):
        (merged / d).mkdir(exist_ok=True)
        restrict_mount(merged / d, "noexec,nosuid,nodev")
    mount("tmpfs", "tmpfs", merged / "var/lib/cloud", "mode=0755,size=16m")
    volatile = Path(job["upper"]).parent / "etc-volatile"
    mount("tmpfs", "tmpfs", volatile, "mode=0755,size=16m")
    (volatile / "upper").mkdir()
    (volatile / "work").mkdir()
    mount("overlay", "overlay", merged / "etc",
          f"lowerdir={job['lower']}/etc,upperdir={volatile / 'upper'},workdir={volatile / 'work'}")  # fmt: skip


def run_ignition(job: dict[str, Any], merged: Path) -> tuple[list[dict[str, Any]], str]:
    """First boot of a Fedora CoreOS-like image: the real Ignition, as its initramfs runs it
    (fetch from GCE's metadata address, then the files stage on the root). Returns its steps and
    what it asked setfiles to label."""
    state = Path(job["upper"]).parent / "ignition-run"
    state.mkdir(exist_ok=True)
    common = ["-platform", "gcp", "-log-to-stdout", "-root", str(merged), "-config-cache", str(state / "ignition.json"),
              "-state-file", str(state / "state"), "-neednet", str(state / "neednet")]  # fmt: skip
    # Ignition labels the files it wrote by running setfiles (from the initramfs) with the root's
    # SELinux policy; the lab has no policy, so a stand-in records what it was asked to label.
    bin_dir = state / "bin"
    bin_dir.mkdir(exist_ok=True)
    setfiles = bin_dir / "setfiles"
    setfiles.write_text(
        f'#!/bin/sh\necho "setfiles $*" >>{state}/setfiles.log\ntr "\\000" "\\n" >>{state}/setfiles.log\n'
    )
    setfiles.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ.get('PATH', '/usr/bin:/bin')}"}
    steps = []
    for stage in ("fetch", "files"):
        start = time.monotonic()
        res = subprocess.run([job["ignition"], "-stage", stage, *common], capture_output=True, text=True, timeout=120,
                             env=env)  # fmt: skip
        steps.append({"argv": ["ignition", "-stage", stage], "code": res.returncode, "stdout": res.stdout,
                      "stderr": res.stderr, "seconds": round(time.monotonic() - start, 3)})  # fmt: skip
        if res.returncode != 0:
            break
    log = state / "setfiles.log"
    return steps, log.read_text() if log.exists() else ""


def start_enabled_units(merged: Path, timeout: float) -> list[dict[str, Any]]:
    """What systemd would start at boot of the units enabled by presets (Ignition writes
    `enable NAME` lines): each oneshot's ExecStart, in the instance's root."""
    steps = []
    for preset in sorted((merged / "etc/systemd/system-preset").glob("*.preset")):
        for line in preset.read_text().splitlines():
            verb, _, name = line.partition(" ")
            unit = merged / "etc/systemd/system" / name.strip()
            if verb != "enable" or not unit.is_file():
                continue
            exec_start = next((ln.split("=", 1)[1] for ln in unit.read_text().splitlines()
                               if ln.startswith("ExecStart=")), "")  # fmt: skip
            if exec_start:
                step = chroot_run(merged, exec_start.split(), timeout)
                step["unit"] = name.strip()
                steps.append(step)
    return steps


def mounts_under(root: Path) -> dict[str, str]:
    """Mount point (relative to the instance's root) -> options, from this namespace's mountinfo."""
    out: dict[str, str] = {}
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        point, options = fields[4], fields[5]
        if point == str(root) or point.startswith(str(root) + "/"):
            out["/" + point[len(str(root)) :].lstrip("/")] = options
    return out


def patch_runner(merged: Path, port: int) -> bool:
    source = merged / RUNNER.lstrip("/")
    if not source.exists():
        return False
    data = source.read_bytes()
    replacement = f"http://127.0.0.1:{port}/computeMetadata/v1".encode()
    if len(replacement) != len(REAL_METADATA) or REAL_METADATA not in data:
        raise SystemExit(f"cannot patch {RUNNER}: port {port} must have five digits and the URL must be present")
    target = merged / LAB_RUNNER.lstrip("/")
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(data.replace(REAL_METADATA, replacement))
    os.chmod(target, 0o755)
    return True


def chroot_run(merged: Path, argv: list[str], timeout: float) -> dict[str, Any]:
    env = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8", "HOME": "/root"}
    start = time.monotonic()
    try:
        res = subprocess.run(["chroot", str(merged), *argv], capture_output=True, text=True, timeout=timeout, env=env)
        code, out, err = res.returncode, res.stdout, res.stderr
    except subprocess.TimeoutExpired as exc:
        code = -9
        out = (exc.stdout or b"").decode(errors="replace") if isinstance(exc.stdout, bytes) else (exc.stdout or "")
        err = f"timed out after {timeout}s"
    return {"argv": argv, "code": code, "stdout": out, "stderr": err, "seconds": round(time.monotonic() - start, 3)}


def start_gcs(spec: dict[str, Any]) -> subprocess.Popen[bytes]:
    """A state bucket inside the boot's network namespace: fake-gcs-server serving spec['data']."""
    port = int(spec["port"])
    proc = subprocess.Popen(
        [spec["binary"], "-scheme", "http", "-backend", "memory", "-data", spec["data"], "-host", "127.0.0.1",
         "-port", str(port), "-external-url", f"http://127.0.0.1:{port}", "-log-level", "error"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    import urllib.request

    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/storage/v1/b", timeout=1).read()
            return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError("fake-gcs-server did not start in the lab namespace")


def boot(job: dict[str, Any]) -> dict[str, Any]:
    sh(["ip", "link", "set", "lo", "up"])
    socket.sethostname(job["hostname"])
    merged = prepare_root(job)
    if job.get("cos_file_system"):
        cos_mounts(job, merged)
    port = int(job["port"])
    store = MetadataStore(
        InstanceIdentity(name=job["hostname"]),
        attributes=dict(job["metadata"]),
        guest_attributes={ns: dict(kv) for ns, kv in job.get("guest_attributes", {}).items()},
    )
    server = MetadataServer(store, port).start()
    gce_address: MetadataServer | None = None
    if job.get("ignition"):
        sh(["ip", "addr", "add", "169.254.169.254/32", "dev", "lo"])
        gce_address = MetadataServer(store, 80, host="169.254.169.254").start()
    gcs = start_gcs(job["gcs"]) if job.get("gcs") else None
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    write_lab_files(
        merged, metadata_url=server.url, kubernetes_version=job["kubernetes_version"], arch=arch,
        fail_at=job["fail_at"], extra_env=job.get("lab_env"),
    )  # fmt: skip
    for path, content in job.get("overrides", {}).items():
        # failures the lab injects into the node's disk: another /etc/os-release, a corrupt download
        target = merged / path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(content)
    has_agent = patch_runner(merged, port)
    has_cloud_init = (merged / "usr/bin/cloud-init").exists()
    if job.get("ignition"):
        restrict_mount(merged / "usr", "ro")
    if job.get("cos_file_system"):
        (merged / "opt/kubegce-lab/real-mount").write_text("the bootstrap's mount calls are real in this boot\n")
        restrict_mount(merged, "ro")
    t0 = time.time()
    steps: list[dict[str, Any]] = []
    relabeled = ""
    if has_cloud_init:
        for stage in CLOUD_INIT_STAGES:
            steps.append(chroot_run(merged, ["cloud-init", *stage], job["timeout"]))
        steps.append(chroot_run(merged, ["cloud-init", "status", "--long"], 30))
    if has_agent:
        steps.append(
            chroot_run(merged, ["timeout", str(int(job["timeout"])), LAB_RUNNER, "startup"], job["timeout"] + 5)
        )
    if job.get("ignition"):
        if job.get("first_boot"):
            ignition_steps, relabeled = run_ignition(job, merged)
            steps += ignition_steps
        steps += start_enabled_units(merged, job["timeout"])
    if gce_address is not None:
        gce_address.stop()
    server.stop()
    bucket_objects: dict[str, str] = {}
    if gcs is not None:
        import urllib.parse
        import urllib.request

        for name in job["gcs"].get("read_objects", []):
            bucket, _, obj = name.partition("/")
            url = f"http://127.0.0.1:{job['gcs']['port']}/storage/v1/b/{bucket}/o/{urllib.parse.quote(obj, safe='')}?alt=media"
            try:
                bucket_objects[name] = urllib.request.urlopen(url, timeout=5).read().decode()
            except OSError:
                bucket_objects[name] = ""
        gcs.terminate()
        gcs.wait()

    def read(path: str) -> str:
        f = merged / path.lstrip("/")
        return f.read_text(errors="replace") if f.exists() else ""

    return {
        "t0": t0,
        "has_cloud_init": has_cloud_init,
        "has_agent": has_agent,
        "steps": steps,
        "guest_attributes": store.guest_attributes,
        "requests": [r.__dict__ for r in store.log],
        "invocations_log": read("/var/lib/kubegce/invocations.log"),
        "calls_log": read("/var/log/kubegce-lab/calls.log"),
        "cloud_init_log": read("/var/log/cloud-init.log"),
        "cloud_init_output": read("/var/log/cloud-init-output.log"),
        "files": {p: read(p) for p in job.get("read_files", [])},
        "cloud_init_installed_now": (merged / "usr/bin/cloud-init").exists() and not has_cloud_init,
        "bucket_objects": bucket_objects,
        "mounts": mounts_under(merged),
        "applied_manifests": [p.read_text() for p in sorted((merged / "var/log/kubegce-lab/applied").glob("*.yaml"))],
        "ignition_relabeled": relabeled,
    }


def main() -> None:
    job = json.loads(Path(sys.argv[1]).read_text())
    try:
        result = boot(job)
    except Exception as exc:  # reported to the host side as a lab failure
        result = {"lab_error": f"{type(exc).__name__}: {exc}"}
    Path(job["result"]).write_text(json.dumps(result))


if __name__ == "__main__":
    main()
