"""dasag as a user installs it: a wheel in a fresh virtual environment, run from an empty folder.

The demo, every feature config and the quality harness run by their shipped names, with the files
they name (the portrait, the mask, the style pictures and embedding) taken from the package data.
The wheel is built from a copy of the checkout and installed without dependencies into a new venv
whose only link to this one is a ``.pth`` line to its site-packages (torch, Lightning, ...): dasag
itself comes from the wheel alone, never from the checkout.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pandas as pd
import pytest
import yaml

from feature_helpers import REPO

#: Every run here at a size a test affords: a 64 px canvas, 2 copies, 1 step.
TINY = ["--model.pyramid.init_args.max_size", "64", "--model.pyramid.init_args.max_shift", "8", "--model.augment.init_args.batch_size", "2",
        "--trainer.max_steps", "1"]
FEATURE_CONFIGS = ["demo", "art_from_noise", "best_of_k", "edit_from_image", "inpaint", "reference", "style", "value_guided"]


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """The ``bin/`` of a fresh venv holding the wheel built from this checkout."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"
    shutil.copytree(REPO, source, symlinks=True, ignore=shutil.ignore_patterns(".git", ".venv", "runs", "build", "dist", "*.egg-info", "results",
                                                                               "tests", "docs", "examples", "__pycache__"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(root / "dist"), str(source)],
                   check=True, capture_output=True, timeout=600)
    wheel = next((root / "dist").glob("dasag-*.whl"))
    venv = root / "venv"
    base = getattr(sys, "_base_executable", sys.executable)  # the interpreter this venv was made from, not the venv's own
    subprocess.run([base, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=300)
    subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "-q", "--no-deps", "--no-index", str(wheel)], check=True,
                   capture_output=True, timeout=300)
    site = next((venv / "lib").glob("python3*/site-packages"))
    (site / "dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")  # this venv's packages: torch, lightning, ...
    return venv / "bin"


def run(bin_dir: Path, cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([str(bin_dir / "dasag"), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=900)


@pytest.mark.slow
def test_dasag_comes_from_the_wheel_not_the_checkout(installed, tmp_path):
    done = subprocess.run([str(installed / "python"), "-c", "import dasag, sys; print(dasag.__file__)"], cwd=tmp_path, capture_output=True,
                          text=True, env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"})
    assert done.returncode == 0 and str(installed.parent) in done.stdout and str(REPO) not in done.stdout


@pytest.mark.slow
@pytest.mark.parametrize("name", FEATURE_CONFIGS)
def test_every_feature_config_runs_by_its_name_from_an_empty_folder(installed, tmp_path, name):
    done = run(installed, tmp_path, "fit", "--config", name, *TINY, "--trainer.default_root_dir", "out")
    assert done.returncode == 0, done.stderr[-3000:]
    assert list((tmp_path / "out").rglob("final.png"))


@pytest.mark.slow
def test_a_clip_and_a_grown_picture_run_from_configs_that_extend_shipped_ones(installed, tmp_path):
    """A user's config names a shipped one as its base, by name, from any folder."""
    small = {"model": {"pyramid": {"init_args": {"max_size": 64, "max_shift": 8}}, "augment": {"init_args": {"batch_size": 2}}}}
    clip = {"base": "animation/daisy_to_volcano", **small,
            "animation": {"frames": 2, "first_steps": 1, "steps": 1, "keyframes": [{"frame": 0, "prompts": ["daisy"]}, {"frame": 1, "prompts": ["volcano"]}]}}
    (tmp_path / "clip.yaml").write_text(yaml.safe_dump(clip))
    done = run(installed, tmp_path, "animate", "--config", "clip.yaml", "--out", "clip")
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "clip" / "clip.gif").is_file()
    grown = {"base": "large/cpu_1024", **small, "growth": {"sizes": [48, 96], "steps": [1, 1]}}
    (tmp_path / "grow.yaml").write_text(yaml.safe_dump(grown))
    done = run(installed, tmp_path, "grow", "--config", "grow.yaml", "--out", "grown")
    assert done.returncode == 0, done.stderr[-3000:]
    assert (tmp_path / "grown" / "final.png").is_file()


@pytest.mark.slow
def test_the_quality_harness_runs_outside_the_checkout(installed, tmp_path):
    args = ["quality", "transfer", "--out", "out", "--classes", "1", "--seeds", "1", "--steps", "1", "--methods", "pyramid", "--threads", "1",
            "--accelerator", "cpu"]
    done = run(installed, tmp_path, *args)
    assert done.returncode == 0, done.stderr[-3000:]
    table = pd.read_csv(tmp_path / "out" / "scores.csv")
    assert list(table["method"]) == ["pyramid"] and (tmp_path / "out" / "report.md").is_file()
