"""`kubegce emulator`: the local Compute Engine for offline work, demos and CI."""

from __future__ import annotations

from pathlib import Path

import click

from kubegce.cli.common import parse_duration
from kubegce.cli.output import info
from kubegce.errors import UserError


@click.command("emulator")
@click.option("--port", type=click.IntRange(0, 65535), default=8780, show_default=True, help="0 picks a free port.")
@click.option(
    "--latency",
    "latency_ms",
    type=click.FloatRange(0, 60_000),
    default=0.0,
    show_default=True,
    help="Added to every call (ms).",
)
@click.option("--op-ms", "--operation-ms", "operation_ms", type=click.FloatRange(0, 3_600_000), default=0.0, show_default=True,
              help="How long a mutating operation stays RUNNING before DONE.")  # fmt: skip
@click.option("--write-quota", metavar="N/WINDOW",
              help="Mutating calls per fixed window, e.g. 1500/60s or 150/5s; over it: 403 rateLimitExceeded.")  # fmt: skip
@click.option("--read-quota", metavar="N/WINDOW", help="Read calls per fixed window (default: unlimited).")
@click.option("--fail-rate", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Share of calls answered with 429 or 503.")  # fmt: skip
@click.option("--fail-call", "fail_calls", multiple=True, metavar="METHOD:N[:CODE]",
              help="Fail the Nth call of a method, e.g. instanceTemplates.insert:3:503.")  # fmt: skip
@click.option(
    "--boot-seconds", type=click.FloatRange(0, 3600), default=4.0, show_default=True, help="Simulated boot length."
)
@click.option("--boot-outcome", default="joined", show_default=True,
              help="Where simulated bootstraps stop: joined, started, prepared, installed, or fail:STEP.")  # fmt: skip
@click.option("--state-file", type=click.Path(dir_okay=False), help="Keep the emulator's state in this file.")
@click.option("--seed", type=int, help="Seed for --fail-rate.")
@click.option("--serve-metadata", is_flag=True,
              help="Give every instance a metadata server on 127.0.0.1 (GET /_emulator/metadata-servers lists them).")  # fmt: skip
@click.option("--kube-port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="Port of the simulated cluster's Kubernetes API (0 picks a free one).")  # fmt: skip
@click.option("--kubeconfig", type=click.Path(dir_okay=False), default="kubegce-emulator.kubeconfig",
              show_default=True, help="Where to write the kubeconfig of the simulated cluster's API.")  # fmt: skip
@click.option("--backup-interval", default="", metavar="DURATION",
              help="Simulated control planes back etcd up this often (e.g. 10s; default: each spec's interval).")  # fmt: skip
@click.option("-v", "--verbose", is_flag=True, help="Log every request.")
def command(port: int, latency_ms: float, operation_ms: float, write_quota: str | None, read_quota: str | None,
            fail_rate: float, fail_calls: tuple[str, ...],
            boot_seconds: float, boot_outcome: str, state_file: str | None, seed: int | None,
            serve_metadata: bool, kube_port: int, kubeconfig: str, backup_interval: str,
            verbose: bool) -> None:  # fmt: skip
    """Serve the Compute API subset kubegce uses on 127.0.0.1 (see docs/emulator.md)."""
    from kubegce.emulator.admin import boot_outcome_problem
    from kubegce.emulator.compute import ComputeState, FaultConfig
    from kubegce.emulator.pace import QuotaSyntaxError, parse_quota
    from kubegce.emulator.server import EmulatorHTTPServer, parse_fail_call

    problem = boot_outcome_problem(boot_outcome)
    if problem is not None:
        raise UserError(f"--boot-outcome {boot_outcome[:60]!r}: {problem}")

    try:
        parsed = [parse_fail_call(f) for f in fail_calls]
    except ValueError as exc:
        raise UserError(str(exc)) from None
    quotas = {}
    for flag, text in (("--write-quota", write_quota), ("--read-quota", read_quota)):
        if text is not None:
            try:
                quotas[flag] = parse_quota(text)
            except QuotaSyntaxError as exc:
                raise UserError(f"{flag}: {exc}") from None
    faults = FaultConfig(latency_ms=latency_ms, fail_rate=fail_rate, fail_calls=parsed, seed=seed,
                         operation_ms=operation_ms, write_quota=quotas.get("--write-quota"),
                         read_quota=quotas.get("--read-quota"))  # fmt: skip
    state = ComputeState(faults, boot_seconds=boot_seconds, boot_outcome=boot_outcome, serve_metadata=serve_metadata)
    path = Path(state_file) if state_file else None
    if path is not None and path.exists():
        try:
            state.load(path)
        except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError) as exc:
            raise UserError(
                f"--state-file {path}: not an emulator state file ({type(exc).__name__}); "
                "give another path, or remove it to start empty"
            ) from None
    try:
        server = EmulatorHTTPServer(port, state, state_file=path, verbose=verbose)
    except OSError as exc:
        raise UserError(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}; pick another --port") from None
    from kubegce.emulator.cluster import SimulatedCluster

    try:
        interval = parse_duration(backup_interval, "--backup-interval", minimum=1) if backup_interval else None
        cluster = SimulatedCluster(state, port=kube_port, backup_interval_s=interval).start()
    except OSError as exc:
        server.server_close()
        raise UserError(f"cannot listen on 127.0.0.1:{kube_port}: {exc.strerror}; pick another --kube-port") from None
    written = cluster.write_kubeconfig(kubeconfig)
    info(f"kubegce emulator listening on {server.endpoint}")
    info(f"  export KUBEGCE_COMPUTE_ENDPOINT={server.endpoint}")
    info("gcloud against it (in a configuration of its own: `gcloud config configurations create emulator`):")
    info(f"  gcloud config set api_endpoint_overrides/compute {server.endpoint}/compute/v1/")
    info("  gcloud config set auth/disable_credentials true")
    info(f"simulated cluster's Kubernetes API on {cluster.url} (kubeconfig {written})")
    info(f"  export KUBECONFIG={written.resolve()}")
    try:
        server.serve_forever()
    finally:
        cluster.stop()
        server.server_close()
