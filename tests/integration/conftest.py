from __future__ import annotations

from collections.abc import Iterator

import pytest

from kubegce.emulator.compute import FaultConfig
from kubegce.emulator.server import RunningEmulator


@pytest.fixture
def emulator() -> Iterator[RunningEmulator]:
    with RunningEmulator(0, FaultConfig(operation_ms=20), boot_seconds=1.0) as emu:
        yield emu


def resource_names(emu: RunningEmulator, collection: str) -> list[str]:
    with emu.state.lock:
        return sorted(k[3] for k in emu.state.resources if k[2] == collection)
