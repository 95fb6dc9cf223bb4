"""`python -m frontend` with a setting it cannot use stops before anything starts: exit code 2 and one
line naming the setting, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from testbed.frontend import free_port


@pytest.mark.parametrize(
    ("setting", "value", "named"),
    [
        ("T2I_BLOB_STORE_URL", "ftp://example/images", "T2I_BLOB_STORE_URL"),
        ("T2I_TRITON_URL", "triton-without-port", "T2I_TRITON_URL"),
        ("T2I_TRITON_URL", "a:8001,dns:///pods", "T2I_TRITON_URL"),
        ("T2I_DATABASE_URL", "mysql://u:p@db/t2i", "T2I_DATABASE_URL"),
    ],
)
def test_a_bad_setting_is_one_line_and_exit_code_2(
    tmp_path: Path, setting: str, value: str, named: str
) -> None:
    # An external Triton (nothing listens there): the embedded one must not start for this check.
    env = dict(os.environ, T2I_DATA_DIR=str(tmp_path), T2I_TRITON_URL="127.0.0.1:1")
    env[setting] = value
    result = subprocess.run(
        [sys.executable, "-m", "frontend", "--port", str(free_port())],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert named in lines[0] and "Traceback" not in result.stderr
