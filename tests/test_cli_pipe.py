"""`harness plan FILE | head -1`: a reader that has gone away ends the command quietly."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_a_closed_pipe_ends_the_command_without_a_traceback():
    child = subprocess.Popen([sys.executable, "-m", "harness.cli", "plan",
                              str(ROOT / "ablations" / "default.yaml")],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=ROOT)
    child.stdout.close()  # gone before the plan is written (the imports alone take a second)
    _, err = child.communicate(timeout=120)
    assert b"Traceback" not in err, err.decode()
    assert child.returncode == 141  # 128 + SIGPIPE, as a shell reports a tool stopped by it
