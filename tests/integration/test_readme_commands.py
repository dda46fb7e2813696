"""Every `dasag fit` line of the README's Usage block runs as written, from an empty folder, in
order (the `--ckpt_path` line continues the demo run the first line made), with a step cap and a
small canvas so the whole block takes a minute or two."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: The run's size, appended to every line: a 48 px picture from 2 copies.
SMALL = ["--model.pyramid.init_args.max_size", "64", "--model.pyramid.init_args.max_shift", "8", "--model.augment.init_args.batch_size", "2"]
#: Steps of a line that sets none (the demo checkpoints every 20 steps, which the --ckpt_path line continues from).
CAP = 20


def usage_lines() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"## Usage\n\n```bash\n(.*?)```", text, re.S)
    assert block, "README.md has no Usage block"
    return [line.split("  #")[0].strip() for line in block.group(1).splitlines() if line.startswith("dasag fit")]


def capped(args: list[str]) -> list[str]:
    """The line's own arguments with its step count capped (an 80-step continuation becomes CAP + 1)."""
    args = list(args)
    if "--trainer.max_steps" in args:
        i = args.index("--trainer.max_steps") + 1
        args[i] = str(min(int(args[i]), CAP + 1 if "--ckpt_path" in args else CAP))
        return args + SMALL
    return args + SMALL + ["--trainer.max_steps", str(CAP)]


@pytest.mark.slow
def test_every_usage_line_of_the_readme_runs_as_written(tiny_weights_env, tmp_path) -> None:
    lines = usage_lines()
    assert len(lines) >= 6 and any("--ckpt_path" in line for line in lines)
    for line in lines:
        args = capped(shlex.split(line)[1:])
        done = subprocess.run([sys.executable, "-m", "dasag", *args], cwd=tmp_path, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, (line, done.stderr[-3000:])
        if "--print_config" in line:
            assert "max_size: 64" in done.stdout
    assert list((tmp_path / "runs" / "demo").rglob("final.png")), "the demo lines wrote no picture under runs/demo"
    assert not (tmp_path / "lightning_logs").exists()  # no run writes into the folder it was started from
