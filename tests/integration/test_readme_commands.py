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


#: What each other README command is run with so the whole README takes minutes: the step and size
#: caps of the Usage block for fits, the first row for batches, one class and seed for the suites.
BATCH_CAP = ["--samples", "1", "--steps", "2"]
QUALITY_CAP = {"transfer": ["--classes", "1", "--seeds", "1", "--methods", "pyramid", "--steps", "2"],
               "das_ag_v2": ["--samples", "1", "--methods", "das", "--steps", "2"]}


def other_commands() -> list[str]:
    """Every command line of the README's bash blocks outside Usage (continuations joined, comments cut)."""
    text = (ROOT / "README.md").read_text()
    usage = re.search(r"## Usage\n\n```bash\n(.*?)```", text, re.S).group(1)
    lines = []
    for block in re.findall(r"```bash\n(.*?)```", text, re.S):
        if block == usage:
            continue
        for line in block.replace("\\\n", " ").splitlines():
            line = re.split(r"\s+#\s", line)[0].strip()
            if line:
                lines.append(line)
    return lines


#: Commands the test does not run here, each for its reason (what tests it instead).
NOT_RUN = {
    "bash scripts/": "the scripts themselves: CI runs scripts/test.sh; the demo config runs in tests/commands/test_fit.py",
    "pip install": "an install (tests/integration/test_wheel.py installs the package)",
    "tensorboard ": "a server (the demo's event files are read back in tests/commands/test_fit.py)",
    "dasag app": "a server (tests/integration/test_app_browser.py drives it in Chromium)",
    "torchrun ": "several machines (tests/integration/test_several_machines.py starts real torchrun nodes)",
    "srun ": "SLURM is not installed here",
    "python reproduce/": "benchmarks that print figures; they take minutes to hours",
    "dasag fit --config demo --model.scorer timm:": "a zoo model's real weights (no hub here): tests/scorers/test_timm_classifier.py guides runs "
                                                    "with timm models read from local files in the zoo venv",
    "dasag fit --config das_original": "three real OpenCLIP checkpoints (no hub here): tests/integration/test_zoo_configs.py runs it on random "
                                       "weights read from local files in the zoo venv, and checks its one sentence offline",
    "dasag quality transfer --out runs/transfer --eval-scorer timm:": "a zoo judge's real weights (no hub here): the timm judge of a transfer "
                                                                      "run is tested on random weights in the zoo venv (tests/scorers/test_timm_classifier.py)",
}


@pytest.mark.slow
def test_every_other_readme_command_runs_as_written(tiny_weights_env, tmp_path) -> None:
    """Each `dasag` line outside Usage, as written plus a cap on its length: fits, personalize, batch
    (and its --check), the quality suites (and --check, --override/--compare). Animation and growth
    lines, whose configs take hours, are checked whole by their commands' own check (every frame's or
    stage's run is parsed and built, nothing written), which is what they run first."""
    from dasag.animation.animate import ClipSpec, plan
    from dasag.core.config import config_file
    from dasag.growth.grow import prepare

    lines = other_commands()
    (tmp_path / "examples").symlink_to(ROOT / "examples")  # the README's paths are a clone's (examples/batch/rows.csv)
    ran = []
    for line in lines:
        if any(line.startswith(prefix) for prefix in NOT_RUN):
            continue
        args = shlex.split(line)
        assert args[0] == "dasag", f"a README command the test does not know how to run: {line}"
        command, rest = args[1], args[2:]
        if command in ("animate", "grow"):
            config, out = config_file(rest[rest.index("--config") + 1]), tmp_path / rest[rest.index("--out") + 1]
            if command == "animate":
                plan(ClipSpec.from_file(config, out, None))
            else:
                prepare(config, out)
            assert not out.exists(), line
            ran.append(line)
            continue
        if command == "fit":
            rest = capped(rest)
        elif command == "batch":
            rest = rest + BATCH_CAP
        elif command == "quality":
            rest = rest + QUALITY_CAP[rest[0]]
            if "--override" in rest:  # the compat overlay's 386 px input is the real checkpoint's; the tiny tower reads 32-39 px
                tiny = tmp_path / "tiny_input.yaml"
                tiny.write_text("model: {scorer: {init_args: {input_size: 34}}}\n")
                end = next(i for i in range(rest.index("--override") + 1, len(rest) + 1) if i == len(rest) or rest[i].startswith("--"))
                rest = [*rest[:end], str(tiny), *rest[end:]]
        elif command != "personalize":
            raise AssertionError(f"a README command the test does not know how to run: {line}")
        done = subprocess.run([sys.executable, "-m", "dasag", command, *rest], cwd=tmp_path, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, (line, done.stdout[-1500:], done.stderr[-3000:])
        ran.append(line)
    assert len(ran) >= 20, ran
    assert {line.split()[1] for line in ran} >= {"fit", "personalize", "batch", "quality", "animate", "grow"}
    assert (tmp_path / "my_style.pt").is_file() and list((tmp_path / "runs" / "batch").rglob("*.png"))
    assert not (tmp_path / "lightning_logs").exists()
