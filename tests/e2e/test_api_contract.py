"""The live OpenAPI schema is the truth: schemathesis fuzzes the running Client App against it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

# No 5xx, and every response matches the documented status codes, content types and bodies.
CHECKS = "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"


@pytest.mark.parametrize("who", ["customer", "staff"])
def test_schemathesis_finds_no_server_errors_and_no_schema_violations(platform, who):
    session = platform.session(staff=who == "staff")
    command = [
        str(Path(sys.executable).parent / "st"), "run", f"{platform.api}/api/schema/",
        "--header", f"Authorization: {session.headers['Authorization']}",
        "--checks", CHECKS,
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
    report = result.stdout[-8000:] + result.stderr[-2000:]
    assert result.returncode == 0, report
    assert "passed" in result.stdout, report
