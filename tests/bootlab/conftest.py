from __future__ import annotations

import os
import shutil

import pytest

from kubegce.errors import UserError


@pytest.fixture(scope="session", autouse=True)
def lab_ready() -> None:
    """Skip with the reason where this machine cannot run the lab; in CI that is a failure."""
    from kubegce.lab.run import check_can_run

    try:
        check_can_run()
        if shutil.which("mmdebstrap") is None:
            raise UserError("mmdebstrap is not installed; run scripts/install-test-tools.sh")
    except UserError as exc:
        if os.environ.get("KUBEGCE_REQUIRE_TOOLS") == "1":
            pytest.fail(str(exc))
        pytest.skip(str(exc))
