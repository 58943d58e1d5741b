from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from kubegce.emulator.compute import FaultConfig
from kubegce.emulator.pace import parse_quota
from kubegce.emulator.server import RunningEmulator


@pytest.fixture
def emulator() -> Iterator[RunningEmulator]:
    with RunningEmulator(0, FaultConfig(operation_ms=20), boot_seconds=1.0) as emu:
        yield emu


@pytest.fixture
def paced_emulator() -> Iterator[Callable[..., RunningEmulator]]:
    """Start emulators with the pace model of `kubegce emulator --latency MS --op-ms MS --write-quota
    N/W --read-quota N/W` (keep op-ms and windows small: the suite's time matters)."""
    started: list[RunningEmulator] = []

    def start(*, latency_ms: float = 0, op_ms: float = 20, write_quota: str | None = None,
              read_quota: str | None = None) -> RunningEmulator:  # fmt: skip
        faults = FaultConfig(latency_ms=latency_ms, operation_ms=op_ms,
                             write_quota=parse_quota(write_quota) if write_quota else None,
                             read_quota=parse_quota(read_quota) if read_quota else None)  # fmt: skip
        emu = RunningEmulator(0, faults, boot_seconds=1.0)
        started.append(emu)
        return emu

    yield start
    for emu in started:
        emu.close()


def resource_names(emu: RunningEmulator, collection: str) -> list[str]:
    with emu.state.lock:
        return sorted(k[3] for k in emu.state.resources if k[2] == collection)
