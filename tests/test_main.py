"""``python -m dasag <command>`` is the ``dasag`` command."""

from __future__ import annotations

import subprocess
import sys


def test_python_m_dasag_lists_the_commands_and_runs_one():
    done = subprocess.run([sys.executable, "-m", "dasag", "--help"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and "commands:" in done.stdout and "quality" in done.stdout
    bad = subprocess.run([sys.executable, "-m", "dasag", "grow", "--config", "demo", "--out", "x", "--no-such-option"],
                         capture_output=True, text=True, timeout=120)
    assert bad.returncode == 2 and bad.stderr.startswith("error: ") and len(bad.stderr.strip().splitlines()) == 1
