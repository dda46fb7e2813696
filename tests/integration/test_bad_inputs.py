"""Bad input, as a new user gives it, at every way in: ``cli.py``, the harness, ``personalize``.

Each case must exit with status 2 and print exactly one line (``error: ...`` naming what was
wrong), with no traceback, and must leave nothing behind: the output folder is not created.
The CLI's parser errors add one more line pointing at ``--help``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dasag.commands import main as cli_main
from dasag.commands.personalize import main as personalize_main
from dasag.commands.quality import main as harness_main
from dasag.core.config import CONFIGS

DEMO = str(CONFIGS / "demo.yaml")


@pytest.fixture
def bad_files(tmp_path: Path) -> dict[str, Path]:
    """Files a user might hand over by mistake."""
    folder = tmp_path / "inputs"
    folder.mkdir()
    files = {
        "empty_png": folder / "empty.png",
        "text_png": folder / "text.png",
        "malformed_yaml": folder / "malformed.yaml",
        "list_yaml": folder / "list.yaml",
        "empty_dir": folder / "no_images",
        "a_file": folder / "file.txt",
    }
    files["empty_png"].write_bytes(b"")
    files["text_png"].write_text("not a picture")
    files["malformed_yaml"].write_text("model: {pyramid: [unclosed\n")
    files["list_yaml"].write_text("- just\n- a list\n")
    files["empty_dir"].mkdir()
    files["a_file"].write_text("x")
    return files


def _one_sentence(capsys, extra_lines: int = 0) -> str:
    err = capsys.readouterr().err
    lines = [line for line in err.strip().splitlines() if line and not line.startswith(("Seed set to", "[transformers]"))]
    assert lines and lines[0].startswith("error: "), err[-2000:]
    assert "Traceback" not in err, err[-2000:]
    assert len(lines) == 1, err[-2000:]  # one sentence, parser errors included
    return lines[0]


# ----------------------------------------------------------------------------- cli.py
CLI_CASES = [
    # (extra args, words in the sentence, parser error: one extra line pointing at --help)
    (["--model.pyramid.init_args.hue", "1"], "model.pyramid: dasag.ImagePyramid takes no argument 'hue' (its arguments: max_size, max_shift,", True),
    (["--config", "quality/ensemble_lite", "--model.scorer.init_args.drop_connect", "0.2"],
     "model.scorer: dasag.scorers.ScorerEnsemble takes no argument 'drop_connect' (its arguments: scorers, weights); drop_connect is an argument "
     "of each member (EfficientNetLite", True),
    (["--config", "{trainer: {callbacks: [{class_path: dasag.ImageExport, init_args: {every: 3}}]}}"],
     "trainer.callbacks: dasag.ImageExport takes no argument 'every' (its arguments: every_n_steps, tensorboard_every_n_steps, subdir).", True),
    (["--trainer.max_steps", "many"], "trainer.max_steps: expected int", True),
    (["--model.objective.init_args.arctanh_on", "batch"], "arctanh_on: expected one of 'copy', 'batch_mean'", True),
    (["--model.schedule_time_base", "t/T"], "schedule_time_base: expected one of 'last_step', 'steps'", True),
    (["--model.scorer.init_args.interpolation", "lanczos"], "interpolation: expected one of", True),
    (["--model.objective.init_args.regulariser_units", "sums"], "regulariser_units: expected one of", True),
    (["--trainer.max_steps", "0"], "trainer.max_steps must be a positive integer", False),
    (["--model.augment.init_args.batch_size", "0"], "batch_size must be a positive integer", False),
    (["--model.augment.init_args.batch_size", "1000000000"], "batch_size must be at most 4096 copies per image per step", False),
    (["--data.positive_prompts", "[goldfish:1e308]"], "a prompt weight must be a number from -1000 to 1000", False),
    (["--data.positive_prompts", "[goldfish:inf]"], "the weight after the last ':' in 'goldfish:inf' is not a number", False),
    (["--model.pyramid.init_args.max_size", "100"], "max_size must be a power of two", False),
    (["--model.pyramid.init_args.max_shift", "300"], "max_shift must be in", False),
    (["--model.scorer.init_args.input_size", "4"], "input_size must be at least 32 px", False),
    (["--model.objective.init_args.tv_weight", "-1"], "tv_weight must be a number from 0 to 1000; got -1.0", False),
    (["--model.objective.init_args.tv_weight", "1e300"], "tv_weight must be a number from 0 to 1000", False),
    (["--model.objective.init_args.l1_weight", "1e300"], "l1_weight must be a number from 0 to 1000", False),
    (["--model.objective.init_args.prompt_weight", "1e308"], "prompt_weight must be a number from 0 to 1000 (1 is the default pull)", False),
    (["--trainer.max_steps", "1000000000"], "trainer.max_steps must be a whole number from 1 to 1000000 (the run's length)", False),
    (["--model.augment.init_args.noise", "1e300"], "schedule value must be a number from -1000000 to 1000000", False),
    (["--model.augment.init_args.color_shift", "{class_path: dasag.Linear, init_args: {start: 0.1, end: 1e300}}"],
     "schedule end must be a number from -1000000 to 1000000", False),
    (["--model.objective.init_args.arctanh_on", "batch_mean", "--model.scorer_precision", "fp8"], "scorer_precision", True),
    (["--model.scorer.class_path", "os.system"], "model.scorer: import path os.system does not correspond to a subclass of Scorer", True),
    (["--data.positive_prompts", "[goldfsh]"], "unknown ImageNet class 'goldfsh'", False),
    (["--data.positive_prompts", "[]"], "at least one positive prompt", False),
    (["--data.positive_prompts", "[goldfish:lots]"], "data.positive_prompts: the weight after the last ':' in 'goldfish:lots' is not a number", False),
    (["--data.positive_prompts", "[goldfish | volcano:-1 | goldfsh]"], "unknown ImageNet class 'goldfsh'", False),
    (["--data.positive_prompts", "[goldfish | image:missing.png]"], "image prompt 'missing.png' is not a file", False),
    (["--data.negative_prompts", "[daisy:-1]"], "in negative_prompts a weight is how hard", False),
    (["--model.pyramid.init_args.init_image", "missing.png"], "missing.png' does not exist", False),
    (["--model.pyramid.init_args.max_size", "65536"], "max_size 65536 with 1 image(s) needs at least 448.0 GiB for its levels, gradients, "
     "optimiser state and canvas, more than this machine's 24.0 GiB of memory; allowed here: max_size up to 8192", False),
    (["--data.positive_prompts", "[" + "a" * 100_000 + "]"], "' (100,000 characters)", False),
    (["--model.optimizer", "torch.optim.Adam", "--model.optimizer.lr", "0"], "model.optimizer lr must be a positive number", False),
    (["--model.optimizer", "torch.optim.Adam", "--model.optimizer.lr", "-1"], "model.optimizer: invalid learning rate: -1.0", False),
    (["--model.optimizer", "torch.optim.Adam", "--model.optimizer.lr", "nan"], "model.optimizer.lr: expected float; got 'nan'", True),
    (["--model.objective.init_args.tv_weight", "inf"], "tv_weight: expected float; got 'inf'", True),
    pytest.param(["--trainer.accelerator", "gpu"], "the trainer settings are not possible here", False,
                 marks=pytest.mark.skipif(__import__("torch").cuda.is_available(), reason="this machine has a GPU: the run would start")),
    (["--seed_everything", "-3"], "seed_everything must be a whole number from 0 to 4294967295", False),
    (["--model.augment.init_args.noise", "-0.5"], "augment noise must stay non-negative", False),
]


def _case_id(case) -> str:
    return " ".join((case.values if hasattr(case, "values") else case)[0])[:60]


@pytest.mark.parametrize(("extra", "words", "parser"), CLI_CASES, ids=[_case_id(c) for c in CLI_CASES])
def test_cli_bad_option_is_one_sentence_and_writes_nothing(extra, words, parser, tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr("dasag.run.build.host_memory_bytes", lambda: 24 * 2**30)  # this machine's size, wherever the test runs
    out = tmp_path / "run"
    assert cli_main(["fit", "--config", DEMO, "--trainer.default_root_dir", str(out), *extra]) == 2
    line = _one_sentence(capsys, extra_lines=1 if parser else 0)
    assert words in line and len(line) < 1000, line[:2000]
    assert not out.exists()


def test_value_guidance_with_one_candidate_is_refused_before_the_run_folder_exists(tmp_path, monkeypatch, tiny_weights_env, capsys) -> None:
    """It was refused in the callback's setup, after Lightning had made the run's log folder."""
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "run"
    assert cli_main(["fit", "--config", "value_guided", "--model.pyramid.init_args.num_images", "1", "--trainer.default_root_dir", str(out)]) == 2
    assert "ValueGuidance chooses among candidates: set model.pyramid.init_args.num_images to K >= 2; got 1." in _one_sentence(capsys)
    assert not out.exists() and list(tmp_path.iterdir()) == []


def _alias_bomb(path: Path) -> Path:
    """Nine levels of nine-fold YAML aliases: a few lines that expand to 387 million strings."""
    lines = ['l0: &l0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 9)}]" for i in range(1, 9)]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_a_yaml_alias_bomb_is_refused_before_it_expands(tmp_path, capsys) -> None:
    bomb = _alias_bomb(tmp_path / "bomb.yaml")
    out = tmp_path / "out"
    assert cli_main(["fit", "--config", str(bomb), "--trainer.default_root_dir", str(out)]) == 2
    assert "bomb.yaml' expands to more than 100,000 values" in _one_sentence(capsys)
    assert harness_main(["transfer", "--out", str(out), "--override", str(bomb)]) == 2
    assert "bomb.yaml' expands to more than 100,000 values" in _one_sentence(capsys)
    assert not out.exists()


def test_a_mask_of_another_shape_than_the_image_is_one_sentence(tmp_path, capsys, in_repo) -> None:
    from PIL import Image

    mask = tmp_path / "wide_mask.png"
    Image.new("L", (256, 64), 255).save(mask)  # the portrait is square
    out = tmp_path / "run"
    args = ["fit", "--config", str(CONFIGS / "inpaint.yaml"), "--trainer.default_root_dir", str(out), "--model.pyramid.init_args.mask", str(mask)]
    assert cli_main(args) == 2
    assert "wide_mask.png' is 256x64 px but init_image 'assets/images/portrait.png' is 128x128 px" in _one_sentence(capsys)
    assert not out.exists()


def test_a_16_bit_init_image_is_one_sentence(tmp_path, capsys) -> None:
    from PIL import Image

    deep = tmp_path / "scan.png"
    Image.new("I;16", (64, 64), 50_000).save(deep)
    out = tmp_path / "run"
    args = ["fit", "--config", str(CONFIGS / "edit_from_image.yaml"), "--trainer.default_root_dir", str(out), "--model.pyramid.init_args.init_image", str(deep)]
    assert cli_main(args) == 2
    assert "scan.png' cannot be read: its pixels are I;16 (more than 8 bits a channel)" in _one_sentence(capsys)
    assert not out.exists()


@pytest.mark.parametrize(("key", "words"), [("empty_png", "zero bytes"), ("text_png", "not an image file")])
def test_cli_init_image_that_is_not_an_image(key, words, bad_files, tmp_path, capsys) -> None:
    out = tmp_path / "run"
    args = ["fit", "--config", str(CONFIGS / "edit_from_image.yaml"), "--trainer.default_root_dir", str(out),
            "--model.pyramid.init_args.init_image", str(bad_files[key])]
    assert cli_main(args) == 2
    line = _one_sentence(capsys)
    assert words in line and bad_files[key].name in line
    assert not out.exists()


@pytest.mark.parametrize(("key", "words"), [("list_yaml", "must hold a mapping of settings"), ("a_file", "must hold a mapping")])
def test_cli_config_file_that_is_not_a_config(key, words, bad_files, tmp_path, capsys) -> None:
    out = tmp_path / "run"
    assert cli_main(["fit", "--config", str(bad_files[key]), "--trainer.default_root_dir", str(out)]) == 2
    assert words in _one_sentence(capsys)
    assert not out.exists()


def test_cli_output_folder_that_is_a_file(bad_files, capsys) -> None:
    assert cli_main(["fit", "--config", DEMO, "--trainer.default_root_dir", str(bad_files["a_file"])]) == 2
    assert "exists and is not a directory" in _one_sentence(capsys)


# ----------------------------------------------------------------------------- harness
HARNESS_CASES = [
    (["transfer", "--classes", "0"], "--classes must be a positive integer"),
    (["transfer", "--classes", "99"], "classes"),
    (["transfer", "--methods", "pyramid", "nonsense"], "unknown method 'nonsense'"),
    (["transfer", "--eval-scorer", "lite9"], "lite9"),
    (["transfer", "--eval-scorer", "clip", "clip"], "--eval-scorer names 'clip' twice; name each held-out judge once."),
    (["transfer", "--eval-scorer", "lite2"], "--eval-scorer 'lite2' is already a held-out judge of the transfer suite (lite0, lite1, lite2)"),
    (["transfer", "--eval-scorer", "timm:"], "--eval-scorer 'timm:' names no model after 'timm:'"),
    (["transfer", "--accelerator", "gpu"], "gpu"),
    (["transfer", "--steps", "0"], "steps"),
    (["transfer", "--base-seed", "-1"], "--base-seed must be a non-negative integer"),
    (["transfer", "--node-timeout", "0"], "--node-timeout must be a number from 10 to 86400 (seconds a machine may stay silent); got 0.0."),
    (["transfer", "--node-timeout", "1e300"], "--node-timeout must be a number from 10 to 86400"),
    (["transfer", "--node-timeout", "nan"], "node_timeout: expected float; got 'nan'"),
    (["nonsense"], "nonsense"),
]


@pytest.mark.parametrize(("args", "words"), HARNESS_CASES, ids=[" ".join(c[0]) for c in HARNESS_CASES])
def test_harness_bad_option_is_one_sentence_and_writes_nothing(args, words, tmp_path, capsys) -> None:
    out = tmp_path / "out"
    assert harness_main([*args, "--out", str(out)]) == 2
    assert words in _one_sentence(capsys)
    assert not out.exists()


def test_harness_override_with_a_bad_value_writes_nothing(tmp_path, capsys) -> None:
    """Each method's config is built (no weights) during validation, before run.json or the folder exist."""
    override = tmp_path / "bad.yaml"
    override.write_text("model:\n  pyramid:\n    init_args: {max_size: 100}\n")
    out = tmp_path / "out"
    assert harness_main(["transfer", "--out", str(out), "--classes", "1", "--seeds", "1", "--override", str(override)]) == 2
    assert "max_size must be a power of two" in _one_sentence(capsys)
    assert not out.exists()


@pytest.mark.parametrize(("key", "words"), [("malformed_yaml", "malformed.yaml"), ("list_yaml", "must hold a mapping")])
def test_harness_override_that_is_not_a_config(key, words, bad_files, tmp_path, capsys) -> None:
    out = tmp_path / "out"
    assert harness_main(["transfer", "--out", str(out), "--override", str(bad_files[key])]) == 2
    assert words in _one_sentence(capsys)
    assert not out.exists()


# ----------------------------------------------------------------------------- personalize
def test_personalize_bad_inputs(bad_files, tmp_path, capsys, monkeypatch) -> None:
    monkeypatch.chdir(Path(__file__).resolve().parents[2])
    style = str(CONFIGS / "style.yaml")
    evil = tmp_path / "evil.yaml"  # a class path that is not a scorer: refused, never called
    evil.write_text(f"model:\n  scorer:\n    class_path: os.system\n    init_args: {{command: 'touch {tmp_path / 'pwned'}'}}\n")
    cases = [
        (["--images", str(tmp_path / "nowhere"), "--config", style], "neither an image file nor a folder"),
        (["--images", str(bad_files["empty_dir"]), "--config", style], "holds no images"),
        (["--images", str(bad_files["empty_png"].parent), "--config", style], "2 of 2 image files cannot be read"),
        (["--images", "assets/style", "--config", str(tmp_path / "missing.yaml")], "does not exist"),
        (["--images", "assets/style", "--config", str(evil)], "import path os.system does not correspond to a subclass of Scorer"),
    ]
    for args, words in cases:
        out = tmp_path / "style.pt"
        assert personalize_main([*args, "--out", str(out)]) == 2, args
        assert words in _one_sentence(capsys), args
        assert not out.exists()
    assert not (tmp_path / "pwned").exists()


# ----------------------------------------------------------------------------- --ckpt_path
SMALL = ["--model.pyramid.init_args.max_size", "64", "--model.pyramid.init_args.max_shift", "8",
         "--model.augment.init_args.batch_size", "2", "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false"]


@pytest.fixture(scope="module")
def good_checkpoint(tmp_path_factory) -> Path:
    """last.ckpt of a 3-step demo on a 64 px canvas."""
    root = tmp_path_factory.mktemp("ckpt_source")
    assert cli_main(["fit", "--config", DEMO, *SMALL, "--trainer.max_steps", "3", "--trainer.default_root_dir", str(root)]) == 0
    return next(root.rglob("last.ckpt"))


class _RunsCode:
    """Unpickling this would call os.system: a checkpoint that is not weights-only."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


def _checkpoints(good: Path, folder: Path) -> dict[str, Path]:
    import torch

    folder.mkdir(exist_ok=True)
    data = good.read_bytes()
    made = {"garbage": folder / "garbage.ckpt", "truncated": folder / "truncated.ckpt", "empty": folder / "empty.ckpt",
            "malicious": folder / "malicious.ckpt", "missing": folder / "missing.ckpt"}
    made["garbage"].write_bytes(b"\x00\x01 not a checkpoint at all" * 10)
    made["truncated"].write_bytes(data[: len(data) // 2])
    made["empty"].write_bytes(b"")
    torch.save({"state_dict": {}, "payload": _RunsCode(folder / "pwned")}, made["malicious"])
    return made


CKPT_CASES = [("garbage", "truncated or not a checkpoint"), ("truncated", "truncated or not a checkpoint"), ("empty", "is empty (0 bytes)"),
              ("malicious", "refused (loading it could run code)"), ("missing", "does not exist")]


@pytest.mark.parametrize(("kind", "words"), CKPT_CASES)
def test_bad_ckpt_path_is_one_sentence_before_the_run_folder_exists(kind, words, good_checkpoint, tmp_path, capsys) -> None:
    bad = _checkpoints(good_checkpoint, tmp_path / "ckpts")[kind]
    out = tmp_path / "run"
    assert cli_main(["fit", "--config", DEMO, *SMALL, "--trainer.max_steps", "5", "--trainer.default_root_dir", str(out), "--ckpt_path", str(bad)]) == 2
    line = _one_sentence(capsys)
    assert words in line and bad.name in line
    assert not out.exists() and not (tmp_path / "ckpts" / "pwned").exists()


def test_a_checkpoint_of_another_pyramid_names_the_keys_that_differ(good_checkpoint, tmp_path, capsys) -> None:
    out = tmp_path / "run"
    other = [*SMALL, "--model.pyramid.init_args.num_images", "2"]
    args = ["fit", "--config", DEMO, *other, "--trainer.max_steps", "5", "--trainer.default_root_dir", str(out)]
    assert cli_main([*args, "--ckpt_path", str(good_checkpoint)]) == 2
    line = _one_sentence(capsys)
    assert "was made with another pyramid (shapes differ for pyramid.levels.0 (1, 3, 1, 1) vs (2, 3, 1, 1)" in line
    assert not out.exists()


def test_a_checkpoint_that_already_ran_the_steps_asked_for_is_one_sentence(good_checkpoint, tmp_path, capsys) -> None:
    """Lightning would stop at once, exit 0 and write no image: a run that silently did nothing."""
    out = tmp_path / "run"
    args = ["fit", "--config", DEMO, *SMALL, "--trainer.max_steps", "2", "--trainer.default_root_dir", str(out)]
    assert cli_main([*args, "--ckpt_path", str(good_checkpoint)]) == 2
    assert "has already run 3 steps and trainer.max_steps is 2, so nothing is left to do" in _one_sentence(capsys)
    assert not out.exists()


def test_weights_only_cannot_be_switched_off(good_checkpoint, tmp_path, capsys) -> None:
    out = tmp_path / "run"
    args = ["fit", "--config", DEMO, *SMALL, "--trainer.default_root_dir", str(out), "--weights_only", "false"]
    assert cli_main([*args, "--ckpt_path", str(good_checkpoint)]) == 2
    assert "unrecognized arguments: --weights_only false" in _one_sentence(capsys)  # there is no such switch: checkpoints load weights-only
    assert not out.exists()


# ----------------------------------------------------------------------------- weights files
@pytest.fixture
def bad_heads(tiny_v25_head: Path, tmp_path: Path) -> dict[str, Path]:
    """Aesthetic heads a user might point AESTHETIC_PREDICTOR_MODEL_PATH at by mistake."""
    import torch

    from tiny_models import build_tiny_v25_head

    folder = tmp_path / "heads"
    folder.mkdir()
    data = tiny_v25_head.read_bytes()
    heads = {name: folder / f"{name}.pth" for name in ("truncated", "garbage", "empty", "wrong_width", "malicious", "not_a_head")}
    heads["truncated"].write_bytes(data[: len(data) // 2])
    heads["garbage"].write_bytes(b"PK\x03\x04 this is no torch file" * 20)
    heads["empty"].write_bytes(b"")
    build_tiny_v25_head(heads["wrong_width"], in_dim=7)
    torch.save({"payload": _RunsCode(folder / "pwned")}, heads["malicious"])
    torch.save({"scoring_head.0.weight": torch.zeros(3)}, heads["not_a_head"])
    return heads


HEAD_CASES = [("truncated", "truncated or not a torch file"), ("garbage", "truncated or not a torch file"), ("empty", "is empty (0 bytes)"),
              ("wrong_width", "reads 7-dim embeddings"), ("malicious", "refusing to load"), ("not_a_head", "aesthetic head must be linear layers")]


@pytest.mark.parametrize(("kind", "words"), HEAD_CASES)
def test_a_bad_aesthetic_head_is_one_sentence_before_the_run_folder_exists(kind, words, bad_heads, tiny_weights_env, in_repo, tmp_path,
                                                                          capsys, monkeypatch) -> None:
    """Every weights file is read before the run's folder, config.yaml or events file exist."""
    monkeypatch.setenv("AESTHETIC_PREDICTOR_MODEL_PATH", str(bad_heads[kind]))
    out = tmp_path / "run"
    args = ["fit", "--config", str(CONFIGS / "das_ag.yaml"), *SMALL, "--trainer.max_steps", "2", "--trainer.default_root_dir", str(out)]
    assert cli_main(args) == 2
    line = _one_sentence(capsys)
    assert words in line and bad_heads[kind].name in line, line
    assert not out.exists()
    assert not (bad_heads[kind].parent / "pwned").exists()


# ----------------------------------------------------------------------------- app settings
def _app_cases():
    from dasag.app.settings import Augmentation, ScheduleSetting

    return [
        ({"steps": 0}, "trainer.max_steps must be a positive integer"),
        ({"batch_size": 0}, "batch_size must be a positive integer"),
        ({"learning_rate": 0.0}, "learning rate must be positive"),
        ({"resolution": 100}, "resolution must be one of 96, 192, 256, 384, 768 px"),
        ({"positive_prompts": []}, "positive prompts are empty"),
        ({"positive_prompts": ["goldfsh"]}, "unknown ImageNet class 'goldfsh'"),
        ({"scorer": "nonsense"}, "unknown scorer 'nonsense'; a scorer is named lite0"),
        ({"tv_weight": -1.0}, "tv_weight must be a number from 0 to 1000"),
        ({"tv_weight": float("inf")}, "tv_weight must be a number from 0 to 1000"),
        ({"l1_weight": float("nan")}, "l1_weight must be a number from 0 to 1000"),
        ({"prompt_weight": -1.0}, "prompt_weight must be a number from 0 to 1000"),
        ({"prompt_weight": 1e308}, "prompt_weight must be a number from 0 to 1000"),
        ({"steps": 10**9}, "trainer.max_steps must be a whole number from 1 to 1000000"),
        ({"batch_size": 5000}, "batch_size must be at most 4096 copies per image per step"),
        ({"learning_rate": float("inf")}, "model.optimizer lr must be a positive number"),
        ({"positive_prompts": ["goldfish:1e308"]}, "a prompt weight must be a number from -1000 to 1000"),
        ({"positive_prompts": ["goldfish | image:/nonexistent.png:0.3"]}, "image prompt '/nonexistent.png' is not a file"),
        ({"noise": Augmentation(True, ScheduleSetting("linear", 0.1, 1e300))}, "must be a number from -1000000 to 1000000"),
        ({"preview_every": 0}, "preview every must be a whole number of at least 1"),
        ({"interpolation": "lanczos"}, "interpolation: expected one of 'bilinear', 'bicubic', 'nearest'"),
        ({"jitter": Augmentation(True, ScheduleSetting("constant", 500.0, 500.0))}, "jitter must stay within the 128 px margin"),
        ({"noise": Augmentation(True, ScheduleSetting("linear", -1.0, 0.5))}, "augment noise must stay non-negative"),
        ({"aesthetic": ScheduleSetting("wobbly")}, "aesthetic weight schedule must be one of"),
        ({"seed": -3}, "seed_everything must be a whole number from 0 to 4294967295"),
        ({"scorer": "siglip", "model_path": "/nonexistent/siglip", "positive_prompts": ["a cat"]}, "model directory '/nonexistent/siglip' does not exist"),
    ]


def test_app_settings_that_make_no_run_are_one_sentence_and_write_nothing(tmp_path, monkeypatch) -> None:
    """What the page does on Generate (settings -> config -> build_run), for every bad setting: a
    ConfigError whose message is the one line the page shows, and no output folder."""
    from dasag.app.settings import AppSettings
    from dasag.core.errors import ConfigError
    from dasag.run.build import build_run

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    for fields, words in _app_cases():
        out = tmp_path / "app_runs"
        with pytest.raises(ConfigError) as caught:
            settings = AppSettings(**{"output_dir": str(out), **fields}).for_run()
            build_run(settings.to_config())
        message = str(caught.value)
        assert words in message and "\n" not in message and len(message) < 1000, (fields, message)
        assert not out.exists(), fields


def test_app_output_folder_that_is_a_file(bad_files) -> None:
    from dasag.app.settings import AppSettings
    from dasag.core.errors import ConfigError
    from dasag.run.build import build_run

    with pytest.raises(ConfigError, match="exists and is not a directory"):
        build_run(AppSettings(output_dir=str(bad_files["a_file"])).to_config())


@pytest.mark.parametrize("kind", ["malicious", "truncated", "empty"])
def test_a_bad_style_embedding_is_one_sentence_and_runs_nothing(kind, tmp_path, capsys, in_repo) -> None:
    import torch

    good = (in_repo / "dasag" / "configs" / "assets" / "stained_glass_lite0.pt").read_bytes()
    bad = tmp_path / f"{kind}.pt"
    if kind == "malicious":
        torch.save({"format": "dasag-style", "payload": _RunsCode(tmp_path / "pwned")}, bad)
    else:
        bad.write_bytes(good[: len(good) // 2] if kind == "truncated" else b"")
    out = tmp_path / "run"
    args = ["fit", "--config", str(CONFIGS / "style.yaml"), "--trainer.default_root_dir", str(out),
            "--model.objective.init_args.terms.embedding", str(bad)]
    assert cli_main(args) == 2
    line = _one_sentence(capsys)
    assert f"style embedding '{bad}' is not a readable torch file" in line, line
    assert not out.exists() and not (tmp_path / "pwned").exists()


@pytest.mark.parametrize(("kind", "words"), [("truncated", "truncated or not a torch file"), ("garbage", "truncated or not a torch file"),
                                             ("not_a_head", "does not fit EfficientNet-lite0")])
def test_bad_classifier_weights_are_one_sentence_before_the_run_folder_exists(kind, words, bad_heads, tmp_path, capsys) -> None:
    out = tmp_path / "run"
    args = ["fit", "--config", DEMO, *SMALL, "--trainer.max_steps", "2", "--trainer.default_root_dir", str(out),
            "--model.scorer.init_args.weights_path", str(bad_heads[kind])]
    assert cli_main(args) == 2
    line = _one_sentence(capsys)
    assert words in line and bad_heads[kind].name in line, line
    assert not out.exists()


def test_prompts_files_and_inline_configs_get_the_same_checks(tmp_path, capsys) -> None:
    bomb = _alias_bomb(tmp_path / "bomb.yaml")
    nested = tmp_path / "nested.yaml"
    nested.write_text("positive_prompts:\n  - [goldfish, tench]\n")
    out = tmp_path / "run"
    base = ["fit", "--config", DEMO, "--trainer.default_root_dir", str(out)]
    assert cli_main([*base, "--data.prompts_file", str(bomb)]) == 2
    assert "prompts_file" in (line := _one_sentence(capsys)) and "expands to more than 100,000 values" in line, line
    assert cli_main([*base, "--data.prompts_file", str(nested)]) == 2
    assert "positive_prompts: a prompt must be a text, an ImageNet class index, or a mapping with text or image and weight; got list" in _one_sentence(capsys)
    assert cli_main(["fit", "--config", bomb.read_text(), "--trainer.default_root_dir", str(out)]) == 2
    assert "the --config text expands to more than 100,000 values" in _one_sentence(capsys)
    assert not out.exists()


def test_harness_weights_that_cannot_be_read_are_one_sentence_before_run_json(bad_heads, tmp_path, capsys) -> None:
    """The harness reads the guide's and the held-out models' weights while it checks its plan."""
    override = tmp_path / "weights.yaml"
    override.write_text(f"model:\n  scorer:\n    init_args: {{weights_path: {bad_heads['truncated']}}}\n")
    out = tmp_path / "out"
    assert harness_main(["transfer", "--out", str(out), "--classes", "1", "--seeds", "1", "--override", str(override)]) == 2
    assert "truncated.pth' is truncated or not a torch file" in _one_sentence(capsys)
    assert not out.exists()


# ----------------------------------------------------------------------------- several machines
#: What torchrun puts into its worker's environment when it started one machine with one worker.
TORCHRUN_ONE_WORKER = {"TORCHELASTIC_RUN_ID": "none", "WORLD_SIZE": "1", "LOCAL_WORLD_SIZE": "1", "GROUP_WORLD_SIZE": "1", "RANK": "0",
                       "LOCAL_RANK": "0", "GROUP_RANK": "0", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29500"}


@pytest.mark.parametrize("command", ["batch", "quality"])
def test_more_nodes_than_the_launcher_started_is_one_sentence_in_its_terms(command, batch_files, tmp_path, capsys, monkeypatch) -> None:
    """It was Lightning's sentence about ``devices`` and ``num_nodes`` (then torchrun's traceback)."""
    for name, value in TORCHRUN_ONE_WORKER.items():
        monkeypatch.setenv(name, value)
    rows, config = batch_files
    out = tmp_path / "out"
    args = [str(rows), "--config", str(config)] if command == "batch" else ["transfer", "--classes", "1", "--seeds", "1"]
    assert cli_main([command, *args, "--out", str(out), "--num-nodes", "2", "--accelerator", "cpu"]) == 2
    line = _one_sentence(capsys)
    assert ("--num-nodes 2 x --devices 1 is 2 workers, but torchrun started 1 worker (1 machine x 1 worker); start torchrun --nnodes 2 "
            "--nproc-per-node 1") in line, line
    assert not out.exists()


@pytest.mark.slow
def test_more_nodes_than_a_real_torchrun_started_is_our_sentence_first(batch_files, tmp_path) -> None:
    """The real launcher: our sentence is the worker's first line (torchrun's own report of a worker
    that exited with status 2 follows it, as it does for any failed worker), and nothing is written."""
    import os
    import subprocess
    import sys

    from feature_helpers import REPO, free_port

    rows, config = batch_files
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--nnodes", "1", "--nproc-per-node", "1", "--master-port", str(free_port()),
                           "-m", "dasag", "batch", str(rows), "--config", str(config), "--out", str(out), "--num-nodes", "2", "--accelerator", "cpu"],
                          env=env, capture_output=True, text=True, cwd=tmp_path, timeout=300)
    first = done.stderr.strip().splitlines()[0]
    assert first.startswith("error: --num-nodes 2 x --devices 1 is 2 workers, but torchrun started 1 worker"), done.stderr[-3000:]
    assert "You set `devices=1`" not in done.stderr and not out.exists()


# ----------------------------------------------------------------------------- rows files
@pytest.mark.parametrize("kind", ["long_cell", "unreadable", "folder"])
def test_a_rows_file_that_cannot_be_read_is_one_sentence_and_writes_nothing(kind, batch_files, tmp_path, capsys, monkeypatch) -> None:
    """A 200,000-character cell was _csv.Error and an unreadable file PermissionError, both tracebacks; a folder "does not exist"."""
    _, config = batch_files
    rows = tmp_path / "my_rows.csv"
    if kind == "folder":
        rows.mkdir()
    else:
        rows.write_text("prompt\n" + ("a" * 200_000 if kind == "long_cell" else "goldfish") + "\n")
    if kind == "unreadable":  # as a user without read permission meets it (root reads anything, so chmod alone shows nothing here)
        read_text = Path.read_text
        monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: (_ for _ in ()).throw(PermissionError(13, "Permission denied"))
                            if self == rows else read_text(self, *a, **k))
    out = tmp_path / "out"
    assert cli_main(["batch", str(rows), "--config", str(config), "--out", str(out)]) == 2
    words = {"long_cell": "line 2 has a cell longer than 131,072 characters, the most a CSV cell may hold",
             "unreadable": "cannot be read (Permission denied)", "folder": "is a folder; name a .csv or .yaml rows file"}[kind]
    assert f"rows file {str(rows)!r} {words}" in _one_sentence(capsys)
    assert not out.exists()


# ----------------------------------------------------------------------------- what is already in --out (issue 34)
def _snapshot(folder: Path) -> list[tuple[str, str]]:
    """Every entry under ``folder`` (links not followed) with what it is: a folder, a link and its target, a file's bytes."""
    import os

    found = []
    for root, dirs, names in os.walk(folder):
        for name in dirs + names:
            path = os.path.join(root, name)
            kind = f"link:{os.readlink(path)}" if os.path.islink(path) else "dir" if os.path.isdir(path) else Path(path).read_bytes().hex()
            found.append((os.path.relpath(path, folder), kind))
    return sorted(found)


def test_threads_past_any_machine_are_one_sentence_in_every_command_that_takes_them(batch_files, tmp_path, capsys) -> None:
    """--threads 100000 passed every check: libgomp ran out of memory after run.json (or growth.json, animation.json)
    and the lock were written."""
    from feature_helpers import clip_config, growth_config, write_yaml

    rows, config = batch_files
    commands = {
        "quality": ["quality", "transfer", "--classes", "1", "--seeds", "1", "--accelerator", "cpu"],
        "batch": ["batch", str(rows), "--config", str(config), "--accelerator", "cpu"],
        "grow": ["grow", "--config", str(growth_config(tmp_path))],
        "animate": ["animate", "--config", str(write_yaml(tmp_path, clip_config()))],
    }
    for name, args in commands.items():
        out = tmp_path / f"out_{name}"
        assert cli_main([*args, "--out", str(out), "--threads", "100000"]) == 2, name
        line = _one_sentence(capsys)
        assert line.startswith("error: --threads must be a whole number from 1 to 1024 (CPU threads: more than any machine has") and "got 100000." in line
        assert not out.exists(), name
    out = tmp_path / "out_fit"  # dasag fit too, before its folder exists
    assert cli_main(["fit", "--config", DEMO, "--trainer.default_root_dir", str(out), "--threads", "100000"]) == 2
    assert _one_sentence(capsys).startswith("error: --threads must be a whole number from 1 to 1024")
    assert not out.exists()


def test_a_folder_where_a_batch_writes_its_contact_sheet_is_refused_before_any_image(batch_files, tmp_path, capsys) -> None:
    rows, config = batch_files
    out = tmp_path / "out"
    (out / "contact_sheet.png").mkdir(parents=True)
    before = sorted(p.relative_to(out) for p in out.rglob("*"))
    assert cli_main(["batch", str(rows), "--config", str(config), "--out", str(out), "--accelerator", "cpu"]) == 2
    assert "contact_sheet.png" in _one_sentence(capsys)
    assert sorted(p.relative_to(out) for p in out.rglob("*")) == before  # no image made, nothing else written


def test_a_method_named_twice_is_one_sentence(tmp_path, capsys) -> None:
    """The image was made twice and one of its rows dropped."""
    out = tmp_path / "out"
    assert harness_main(["transfer", "--out", str(out), "--methods", "pyramid", "pixel", "pyramid", "--classes", "1", "--seeds", "1"]) == 2
    assert "--methods names 'pyramid' more than once (each would be made twice and one row dropped); name each method once." in _one_sentence(capsys)
    assert not out.exists()


@pytest.fixture(scope="module")
def finished_transfer(tmp_path_factory) -> tuple[Path, list[str]]:
    """A finished tiny transfer run (one image) and the command that continues it."""
    import yaml

    from feature_helpers import TINY_TRANSFER

    folder = tmp_path_factory.mktemp("finished")
    tiny = folder / "tiny.yaml"
    tiny.write_text(yaml.safe_dump(TINY_TRANSFER))
    out = folder / "run"
    args = ["transfer", "--classes", "1", "--seeds", "1", "--steps", "2", "--methods", "pyramid", "--threads", "1", "--accelerator", "cpu",
            "--override", str(tiny)]
    assert harness_main([*args, "--out", str(out)]) == 0
    return out, args


def _cut_short(data: bytes) -> bytes:
    return data[: len(data) - 5]


def _without_a_column(data: bytes) -> bytes:
    return b"\n".join(b",".join(line.split(b",")[:-1]) for line in data.split(b"\n")[:-1]) + b"\n"


FOLDER_DAMAGE = [
    # (what is done to the finished folder, what the one sentence says)
    ("edits.csv", lambda p: p.write_bytes(b"\x89\xff garbage \x00" * 30), "edits.csv' is not a table (it is not UTF-8 text): delete it and run again"),
    ("edits.csv", lambda p: p.write_bytes(_cut_short(p.read_bytes())), "edits.csv' is cut short (its last line has no end): delete it"),
    ("edits.csv", lambda p: p.write_bytes(b""), "edits.csv' is empty: delete it and run again"),
    ("edits.csv", lambda p: p.write_bytes(_without_a_column(p.read_bytes())), "edits.csv' lacks the column 'edit/all/prob': delete it"),
    ("scores.csv", lambda p: p.write_bytes(b""), "scores.csv' is empty: put back a good copy, or delete it to make the images it lists again"),
    ("scores.csv", lambda p: p.write_bytes(_cut_short(p.read_bytes())), "scores.csv' is cut short (its last line has no end): put back a good copy"),
    ("scores.csv", lambda p: p.write_bytes(_without_a_column(p.read_bytes())), "scores.csv' lacks the column 'device': put back a good copy"),
    ("report.md", lambda p: (p.unlink(), p.mkdir()), "report.md' is a folder, where the run keeps a file: move it away, then run again."),
    (".lock", lambda p: (p.unlink(missing_ok=True), p.mkdir()), ".lock' of --out '{out}' is a folder: move it away (no result is kept in it)"),
    (".lock", lambda p: (p.unlink(missing_ok=True), __import__("os").symlink(".lock", p)), ".lock' of --out '{out}' is a symbolic link that leads nowhere"),
    (".lock.holder", lambda p: p.mkdir(), ".lock.holder' of --out '{out}' is a folder: move it away"),
]


@pytest.mark.parametrize(("name", "damage", "words"), FOLDER_DAMAGE, ids=[f"{n}:{w.split(chr(39))[1][:28]}" for n, _, w in FOLDER_DAMAGE])
def test_a_damaged_file_in_a_finished_run_is_one_sentence_and_the_folder_stays_as_it_was(finished_transfer, name, damage, words, tmp_path, capsys) -> None:
    """A damaged scores.csv or edits.csv, a folder named report.md, an odd lock file: pandas' messages, a KeyError, nan% in the
    report or an OSError traceback came after run.json, scores.csv, stats.csv and the figures were rewritten. Now the same
    command that continues the run says which file and what to do, and the folder is byte for byte as it was."""
    import shutil

    source, args = finished_transfer
    out = tmp_path / "run"
    shutil.copytree(source, out, symlinks=True)
    damage(out / name)
    before = _snapshot(out)
    assert harness_main([*args, "--out", str(out)]) == 2
    line = _one_sentence(capsys)
    assert f"{str(out / name)!r}" in line and words.format(out=out) in line, line
    assert _snapshot(out) == before


@pytest.mark.parametrize(("kind", "words"), [
    ("weights_only", "holds no optimizer state (it was saved weights-only), so a run cannot continue from it: continue from a full checkpoint"),
    ("nan", "holds values that are not finite (NaN or infinity) in state_dict.pyramid.levels.0, so a run continued from it would make a blank picture"),
])
def test_a_checkpoint_that_cannot_continue_a_run_is_one_sentence_before_the_run_folder_exists(kind, words, good_checkpoint, tmp_path, capsys) -> None:
    """Weights-only was Lightning's own KeyError inside fit (after the run's folder existed); NaN resumed into a black picture."""
    import torch

    checkpoint = torch.load(good_checkpoint, weights_only=True)
    if kind == "weights_only":
        del checkpoint["optimizer_states"], checkpoint["lr_schedulers"]
    else:
        for tensor in checkpoint["state_dict"].values():
            tensor.fill_(float("nan"))
    bad = tmp_path / f"{kind}.ckpt"
    torch.save(checkpoint, bad)
    out = tmp_path / "run"
    assert cli_main(["fit", "--config", DEMO, *SMALL, "--trainer.max_steps", "5", "--trainer.default_root_dir", str(out), "--ckpt_path", str(bad)]) == 2
    line = _one_sentence(capsys)
    assert f"--ckpt_path {str(bad)!r} {words}" in line, line
    assert not out.exists()


@pytest.mark.parametrize("kind", ["another_pyramid", "folder"])
def test_a_growth_progress_file_that_cannot_continue_is_one_sentence_and_the_folder_stays_as_it_was(kind, good_checkpoint, tmp_path, capsys) -> None:
    """A progress file of another pyramid was refused only after growth.json was rewritten and the lock taken; a folder
    there was IsADirectoryError at the first save. (The demo's checkpoint is of another pyramid than the growth's first
    stage; a stage's own progress saved weights-only, of NaN or with all its steps run: tests/growth/test_grow.py.)"""
    from dasag.growth.grow import output_folder, prepare, progress_path
    from feature_helpers import growth_config

    config = growth_config(tmp_path)
    out = tmp_path / "out"
    g = prepare(config, out, threads=1)
    with output_folder(out).claim({"config": g.config, "threads": 1}):  # growth.json and the lock files, as a killed run leaves them
        pass
    (out / ".lock.holder").write_text("pid 4194303 on host gone")  # (SIGKILL skips the clean-up that removes it)
    progress = progress_path(out, g.stages[0])
    if kind == "folder":
        progress.mkdir()
    else:
        progress.write_bytes(good_checkpoint.read_bytes())
    before = _snapshot(out)
    assert cli_main(["grow", "--config", str(config), "--out", str(out)]) == 2
    line = _one_sentence(capsys)
    words = "is a folder, where the run keeps a file: move it away, then run again." if kind == "folder" else "was made with another pyramid ("
    assert f"{str(progress)!r} {words}" in line, line
    assert _snapshot(out) == before
