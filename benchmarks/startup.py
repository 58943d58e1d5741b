"""Start-up cost of the `kubegce` command (issue 11 section 6).

    python benchmarks/startup.py [--runs 5] [--json]

For each command: the best wall time of RUNS runs (a new interpreter each time), the time the
interpreter itself takes to start (`python -c pass`), and the heavy libraries the command imported.
Targets: `--help` and offline commands under 0.3 s; a plan against the emulator for the demo cluster
under 1 s. `python -X importtime -m kubegce CMD` shows where a slow command's time goes.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

HEAVY = ("google.cloud", "googleapiclient", "kubernetes", "google.api_core", "grpc", "cryptography", "rich")
CLUSTER = "demo.example.com"

PROBE = (
    "import runpy, sys, json, atexit\n"
    "heavy = {heavy!r}\n"
    "atexit.register(lambda: sys.__stderr__.write('\\nIMPORTED ' + json.dumps(sorted({{h for h in heavy "
    "for m in sys.modules if m == h or m.startswith(h + '.')}})) + '\\n'))\n"
    "sys.argv = ['kubegce'] + {args!r}\n"
    "runpy.run_module('kubegce', run_name='__main__')\n"
)


def timed(cmd: list[str], env: dict[str, str], runs: int) -> float:
    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(cmd, env=env, capture_output=True, check=False)
        best = min(best, time.perf_counter() - start)
    return best


def imported(args: list[str], env: dict[str, str]) -> list[str]:
    r = subprocess.run([sys.executable, "-c", PROBE.format(heavy=HEAVY, args=args)], env=env, capture_output=True,
                       text=True, check=False)  # fmt: skip
    for line in reversed(r.stderr.splitlines()):
        if line.startswith("IMPORTED "):
            return list(json.loads(line[len("IMPORTED ") :]))
    return ["?"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="kubegce-startup-") as tmp:
        port = free_port()
        env = {**os.environ, "KUBEGCE_STATE": f"file://{Path(tmp) / 'state'}"}
        kubegce = [sys.executable, "-m", "kubegce"]
        subprocess.run([*kubegce, "create", "cluster", CLUSTER, "--project", "my-proj", "--zones",
                        "us-central1-a,us-central1-b"], env=env, capture_output=True, check=True)  # fmt: skip
        emulator = subprocess.Popen([*kubegce, "emulator", "--port", str(port)], env=env, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=1)  # noqa: S310 - local emulator
                    break
                except urllib.error.HTTPError:
                    break
                except OSError:
                    if time.monotonic() > deadline:
                        raise SystemExit("the emulator did not start") from None
                    time.sleep(0.2)
            commands: dict[str, list[str]] = {
                "--help": ["--help"],
                "version": ["version"],
                "get clusters": ["get", "clusters"],
                "images list": ["images", "list"],
                "update (offline dry run)": ["update", "cluster", CLUSTER],
                "update --target gce (emulator)": [
                    "update",
                    "cluster",
                    CLUSTER,
                    "--target",
                    "gce",
                    "--endpoint",
                    f"http://127.0.0.1:{port}",
                ],  # fmt: skip
            }
            rows: list[dict[str, Any]] = [
                {
                    "command": "python -c pass",
                    "seconds": round(timed([sys.executable, "-c", "pass"], env, args.runs), 3),
                    "heavy_imports": [],
                }  # fmt: skip
            ]
            for label, argv in commands.items():
                rows.append({"command": f"kubegce {label}", "seconds": round(timed([*kubegce, *argv], env, args.runs), 3),
                             "heavy_imports": imported(argv, env)})  # fmt: skip
        finally:
            emulator.terminate()
            emulator.wait(10)
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    width = max(len(r["command"]) for r in rows)
    print(f"{'COMMAND':<{width}}  SECONDS  HEAVY IMPORTS")
    for r in rows:
        print(f"{r['command']:<{width}}  {r['seconds']:7.3f}  {', '.join(r['heavy_imports']) or '-'}")


if __name__ == "__main__":
    main()
