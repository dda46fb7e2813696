"""The CLI end to end on the real demo config, shrunk to a few steps on a small canvas."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
import yaml

from dasag.commands import main
from dasag.core.config import CONFIGS
from dasag.image.picture import read_metadata

ROOT = Path(__file__).resolve().parents[2]
DEMO = str(ROOT / "configs" / "demo.yaml")
# Small and fast, same code path as the demo: 64 px canvas, 2 copies per step.
SMALL = [
    "--model.pyramid.init_args.max_size", "64",
    "--model.pyramid.init_args.max_shift", "8",
    "--model.augment.init_args.batch_size", "2",
    "--trainer.enable_progress_bar", "false",
    "--trainer.enable_model_summary", "false",
]


def run(root: Path, *extra: str, steps: int = 3) -> int:
    return main(["fit", "--config", DEMO, *SMALL, "--trainer.max_steps", str(steps), "--trainer.default_root_dir", str(root), *extra])


def final_png(root: Path) -> Path:
    found = sorted(root.glob("lightning_logs/version_*/final.png"))
    assert found, f"no final.png under {root}"
    return found[-1]


@pytest.mark.slow
def test_demo_writes_image_metadata_checkpoint_and_tensorboard(tmp_path):
    assert run(tmp_path, "--trainer.log_every_n_steps", "1") == 0
    png = final_png(tmp_path)
    meta = read_metadata(png)
    assert meta["prompts"] == {"positive": ["goldfish"], "negative": []}
    assert meta["seed"] == 0 and meta["step"] == 3
    assert set(meta["scores"]) == {"lite0/positive", "lite0/negative"}
    assert set(meta["scores"]) == {"lite0/positive", "lite0/negative"} and meta["version"]
    assert meta["config"]["trainer"]["max_steps"] == 3
    assert meta["config"]["model"]["scorer"]["class_path"].endswith("EfficientNetLite")

    ckpts = list(tmp_path.rglob("*.ckpt"))
    assert ckpts and all(p.stat().st_size < 100 * 2**20 for p in ckpts)
    state = torch.load(ckpts[0], map_location="cpu", weights_only=True)["state_dict"]
    assert state and all(k.startswith("pyramid.") for k in state), "checkpoints hold the pyramid, never the scorer"

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    ea = EventAccumulator(str(png.parent)).Reload()
    scalars = set(ea.Tags()["scalars"])
    assert {"train/loss", "train/lite0/positive", "train/metric/lite0/similarity"} <= scalars
    assert {"schedule/jitter", "schedule/noise", "schedule/color_shift", "schedule/aesthetic_weight"} <= scalars
    assert any(t.startswith("lr") for t in scalars)
    assert ea.Tags()["images"], "the current image is logged to TensorBoard"
    jitter = [e.value for e in ea.Scalars("schedule/jitter")]
    assert jitter[0] == 8 and jitter[-1] == 0, "jitter starts at the margin and reaches exactly 0 on the last step"


@pytest.mark.slow
def test_same_config_and_seed_give_identical_bytes_and_seed_matters(tmp_path):
    assert run(tmp_path / "a") == 0 and run(tmp_path / "b") == 0 and run(tmp_path / "c", "--seed_everything", "1") == 0
    a, b, c = (final_png(tmp_path / k).read_bytes() for k in "abc")
    assert a == b
    assert a != c


@pytest.mark.slow
def test_resume_from_checkpoint_ends_with_the_same_image(tmp_path):
    every2 = ["--trainer.callbacks+=lightning.pytorch.callbacks.ModelCheckpoint", "--trainer.callbacks.every_n_train_steps=2",
              "--trainer.callbacks.save_top_k=-1", "--trainer.callbacks.dirpath", str(tmp_path / "mid")]
    assert run(tmp_path / "straight", *every2, steps=5) == 0
    mid = tmp_path / "mid" / "epoch=0-step=2.ckpt"
    assert mid.is_file()
    assert run(tmp_path / "resumed", "--ckpt_path", str(mid), steps=5) == 0
    assert final_png(tmp_path / "straight").read_bytes() == final_png(tmp_path / "resumed").read_bytes()


@pytest.mark.slow
def test_several_images_in_one_batched_run(tmp_path):
    assert run(tmp_path, "--model.pyramid.init_args.num_images", "2", steps=2) == 0
    folder = final_png(tmp_path).parent
    assert (folder / "final_00.png").is_file() and (folder / "final_01.png").is_file()
    assert (folder / "final_00.png").read_bytes() != (folder / "final_01.png").read_bytes()


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--trainer.max_steps", "0"], "trainer.max_steps must be a positive integer"),
        (["--model.augment.init_args.batch_size", "0"], "batch_size must be a positive integer"),
        (["--model.pyramid.init_args.max_shift", "40"], "max_shift must be in"),
        (["--model.pyramid.init_args.max_size", "100"], "power of two"),
        (["--data.positive_prompts", "[]"], "needs at least one positive prompt"),
        (["--data.positive_prompts", "[goldfsh]"], "Closest class names: goldfish"),
    ],
)
def test_bad_values_fail_in_one_sentence_before_anything_is_written(tmp_path, capsys, extra, message):
    root = tmp_path / "out"
    args = ["fit", "--config", DEMO, *SMALL, "--trainer.max_steps", "2", "--trainer.default_root_dir", str(root), *extra]
    assert main(args) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("error: ") and message in err[-1]
    assert not root.exists(), "a rejected config leaves no output behind"


def test_unwritable_output_directory(tmp_path, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("x")
    assert run(blocker / "runs") == 2
    assert "not writable" in capsys.readouterr().err


@pytest.mark.parametrize("extra, message", [(["--model.pyramid.init_args.colour", "1"], "colour"), (["--trainer.max_steps", "many"], "max_steps")])
def test_unknown_keys_and_wrong_types_are_rejected_by_the_parser(tmp_path, capsys, extra, message):
    """One sentence naming the key, not the parser's usage dump (``--help`` still has it)."""
    assert run(tmp_path / "out", *extra) == 2
    err = capsys.readouterr().err
    assert message in err and "usage:" not in err and err.startswith("error: ")
    assert len(err.strip().splitlines()) == 1  # one sentence
    assert not (tmp_path / "out").exists()


def test_print_config(capsys):
    assert main(["fit", "--config", DEMO, "--trainer.max_steps", "7", "--print_config"]) == 0
    out = capsys.readouterr().out
    assert "max_steps: 7" in out and "EfficientNetLite" in out


@pytest.mark.slow
def test_two_runs_started_together_in_one_folder_get_a_folder_each(tmp_path):
    """Two real processes, same default_root_dir, started at once: each run's final.png, config.yaml
    and checkpoints are its own (Lightning alone would give both version_0)."""
    import subprocess
    import sys

    from dasag.image.picture import read_metadata

    root = tmp_path / "shared"
    cmd = [sys.executable, str(ROOT / "cli.py"), "fit", "--config", DEMO, *SMALL, "--trainer.max_steps", "3", "--trainer.default_root_dir", str(root)]
    procs = [subprocess.Popen([*cmd, "--seed_everything", str(seed)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for seed in (0, 1)]
    for p in procs:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err[-2000:]
    versions = sorted((root / "lightning_logs").iterdir())
    assert [v.name for v in versions] == ["version_0", "version_1"]
    seeds = set()
    for v in versions:
        config_seed = yaml.safe_load((v / "config.yaml").read_text())["seed_everything"]
        assert read_metadata(v / "final.png")["seed"] == config_seed
        assert (v / "checkpoints" / "last.ckpt").is_file()
        seeds.add(config_seed)
    assert seeds == {0, 1}


def test_the_console_shows_the_run_not_adverts_or_an_empty_summary(tmp_path, capfd):
    """What a newcomer sees: no cloud-logging tip, no parameter table with FLOPs 0, and where the outputs went."""
    root = tmp_path / "console"
    small = ["--model.pyramid.init_args.max_size", "64", "--model.pyramid.init_args.max_shift", "8", "--model.augment.init_args.batch_size", "2"]
    args = ["fit", "--config", DEMO, *small, "--trainer.max_steps", "2", "--trainer.default_root_dir", str(root)]  # the summary at its default
    assert main(args) == 0
    out, err = capfd.readouterr()
    shown = out + err
    assert "litlogger" not in shown and "Tip" not in shown and "FLOPs" not in shown and "Trainable params" not in shown
    assert "Epoch" not in shown and "v_num" not in shown and "GPU available" not in shown and "LeafSpec" not in shown
    assert __import__("re").search(r"\bstep\b[^\n]*2/2", shown), shown[-2000:]  # the bar counts steps, labelled "step"
    assert "dasag: 2 steps on cpu, seed 0" in out
    log_dir = next((root / "lightning_logs").iterdir())
    assert f"outputs in {log_dir}: final.png" in out and (log_dir / "final.png").is_file()


def test_cli_fit_on_a_growth_config_names_the_command_that_runs_it(capsys) -> None:
    from dasag.commands import main

    assert main(["fit", "--config", str(CONFIGS / "large" / "cpu_1024.yaml")]) == 2
    assert "has a growth block (stages of growing size): run it with dasag grow --config" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize(("switch", "kept", "left_out"), [
    ("--trainer.enable_checkpointing", "final.png, config.yaml and the TensorBoard events", "checkpoints/"),
    ("--trainer.logger", "final.png, config.yaml and checkpoints/", "TensorBoard"),
])
def test_switching_checkpoints_or_the_logger_off_takes_the_demos_own_callbacks_with_it(switch, kept, left_out, tmp_path, capsys) -> None:
    """The demo names a ModelCheckpoint and a LearningRateMonitor: Lightning refused enable_checkpointing false
    before the run, and logger false after config.yaml was written ("the run stopped")."""
    assert run(tmp_path, switch, "false", steps=2) == 0
    out = capsys.readouterr().out
    line = next(line for line in out.splitlines() if line.startswith("outputs in "))
    assert kept in line and left_out not in line, line
    assert len(list(tmp_path.rglob("final.png"))) == 1
    if switch == "--trainer.enable_checkpointing":
        assert not list(tmp_path.rglob("*.ckpt")) and list(tmp_path.rglob("events.out.tfevents.*"))
    else:
        assert list(tmp_path.rglob("*.ckpt")) and not list(tmp_path.rglob("events.out.tfevents.*"))
