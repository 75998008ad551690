"""The live OpenAPI schema is the truth: schemathesis fuzzes the running Client App against it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

# Every check schemathesis has: no 5xx; every response matches the documented status codes, headers,
# content types and bodies; requests the schema calls valid are accepted (positive_data_acceptance) and
# ones it calls invalid are refused (negative_data_rejection); auth, methods and resources behave.
CHECKS = "all"
CONFIG = Path(__file__).with_name("schemathesis.toml")


@pytest.mark.parametrize("who", ["customer", "staff"])
def test_schemathesis_finds_no_server_errors_and_no_schema_violations(platform, who):
    session = platform.session(staff=who == "staff")
    command = [
        str(Path(sys.executable).parent / "st"), "--config-file", str(CONFIG), "run", f"{platform.api}/api/schema/",
        "--header", f"Authorization: {session.headers['Authorization']}",
        "--checks", CHECKS,
        # Revoking the session's token would turn every later request into a 401 (tests/client_app covers it).
        "--exclude-operation-id", "auth_token_revoke",
        "--max-examples", "20",
        "--seed", "20261122",
        "--workers", "1",
        "--request-timeout", "30",
        "--no-color",
    ]
    # cwd: schemathesis keeps its example database in the working directory.
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=900, env=platform.env | {"NO_COLOR": "1"}, cwd=platform.logs
    )
    report = result.stdout[-60000:] + result.stderr[-2000:]
    assert result.returncode == 0, report
    assert "passed" in result.stdout, report
