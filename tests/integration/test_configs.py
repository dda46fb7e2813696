"""Every shipped config: each one builds (no weights load), says only what differs from its
base, and runs end to end through the CLI.

The DAS-AG v2 method configs are 768 px / 100 steps on SigLIP so400m; here the pyramid, the
batch and the step count are overridden from the command line, and SIGLIP_MODEL_PATH /
AESTHETIC_PREDICTOR_MODEL_PATH point at tiny random checkpoints. Everything else (the
schedules, arctanh, the real loading code) is what a user runs. The feature configs run
offline with the real EfficientNet-Lite0 weights at a 64 px canvas.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import yaml

from dasag.commands import main
from dasag.core.config import CONFIGS, expand_config_args, load_config, read_config_file
from dasag.run.build import DasagCLI, build_run

METHODS = ("das", "das_ag", "das_ag_plus", "das_rag", "das_rag_plus")
SMALL = [
    "--model.pyramid.init_args.max_size", "64",
    "--model.pyramid.init_args.max_shift", "8",
    "--model.augment.init_args.batch_size", "2",
    "--trainer.accelerator", "cpu",
    "--trainer.enable_progress_bar", "false",
    "--trainer.enable_model_summary", "false",
]


def _png_metadata(path: Path) -> dict:
    from PIL import Image

    with Image.open(path) as im:
        return json.loads(im.text["dasag"])


#: Configs whose scorers come from the zoo extra (open_clip, timm): built in the zoo venv (tests/integration/test_zoo_configs.py).
ZOO_CONFIGS = ("das_original",)
RUNNABLE = sorted(p.stem for p in CONFIGS.glob("*.yaml") if not p.stem.endswith("_base") and p.stem not in ("preset_384", *ZOO_CONFIGS))


@pytest.mark.parametrize("name", RUNNABLE)
def test_every_shipped_config_builds_without_loading_weights(name: str, tiny_weights_env, in_repo, tmp_path: Path) -> None:
    config = load_config(CONFIGS / f"{name}.yaml")
    config["trainer"]["default_root_dir"] = str(tmp_path / name)
    built = build_run(config)
    assert built.trainer.max_steps == config["trainer"]["max_steps"]
    assert not any(member.loaded for member in built.model.scorer.members)
    assert built.run_config["model"]["scorer"]["class_path"] == config["model"]["scorer"]["class_path"]
    assert not (tmp_path / name).exists()  # building writes nothing


def test_configs_are_package_data_and_linked_from_the_checkout() -> None:
    root_configs = Path(__file__).resolve().parents[2] / "configs"
    assert root_configs.resolve() == CONFIGS.resolve() and (CONFIGS / "demo.yaml").is_file()


def test_lite0_setup_has_one_root_and_defaults_are_not_restated() -> None:
    for name in ("demo", "features_base", "transfer"):
        assert "lite0_base.yaml" in str(read_config_file(CONFIGS / f"{name}.yaml")["base"])
    settings = "".join(yaml.safe_dump(yaml.safe_load(p.read_text())) for p in CONFIGS.glob("*.yaml"))  # comments left out
    for default in ("tv_weight", "betas", "log_every_n_steps", "lr_min_ratio", "seed_everything", "variant: lite0"):
        assert default not in settings, f"{default} is a constructor's default and should not be restated in a config"


@pytest.mark.slow
@pytest.mark.parametrize("method", METHODS)
def test_method_config_runs_end_to_end(method: str, tiny_weights_env, in_repo, tmp_path: Path) -> None:
    root = tmp_path / method
    rc = main(["fit", "--config", str(CONFIGS / f"{method}.yaml"), "--trainer.max_steps", "3",
               "--trainer.default_root_dir", str(root), *SMALL])
    assert rc == 0
    final = next(root.rglob("final.png"))
    meta = _png_metadata(final)
    assert meta["step"] == 3
    assert meta["prompts"]["positive"][0].startswith("A photorealistic illustration of")
    assert len(meta["prompts"]["negative"]) == 2
    for key in ("siglip/positive", "siglip/negative", "siglip/aesthetic"):
        assert math.isfinite(meta["scores"][key])


@pytest.mark.slow
def test_the_robust_overlay_runs_end_to_end_on_a_siglip_method(tiny_weights_env, in_repo, tmp_path: Path) -> None:
    """The recipe offered to SigLIP users: every piece (zoom, flip, decorrelated colour, contrast)
    runs through the CLI on the tiny SigLIP tower, and the picture keeps the set spread."""
    root = tmp_path / "robust"
    args = expand_config_args(["--config", str(CONFIGS / "das_ag_plus.yaml"), "--config", str(CONFIGS / "quality" / "robust.yaml")])
    assert main(["fit", *args, "--trainer.max_steps", "3", "--trainer.default_root_dir", str(root), *SMALL]) == 0
    meta = _png_metadata(next(root.rglob("final.png")))
    assert meta["step"] == 3 and math.isfinite(meta["scores"]["siglip/aesthetic"])
    pyramid = meta["config"]["model"]["pyramid"]["init_args"]
    augment = meta["config"]["model"]["augment"]["init_args"]
    assert (pyramid["colour"], pyramid["contrast"], augment["zoom_enabled"], augment["flip_enabled"]) == ("decorrelated", 0.6, True, True)


def test_method_files_hold_only_what_differs() -> None:
    base = yaml.safe_load((CONFIGS / "das_base.yaml").read_text())
    assert base["model"]["pyramid"]["init_args"] == {"max_size": 1024, "max_shift": 128}
    assert base["trainer"]["max_steps"] == 100
    assert base["model"]["objective"]["init_args"] == {"arctanh": True}
    rates = {}
    for method in METHODS:
        text = (CONFIGS / f"{method}.yaml").read_text()
        assert text.startswith(f"# dasag fit --config {method}\n")
        data = yaml.safe_load(text)
        assert "base" in data and "scorer" not in data.get("model", {}) and "data" not in data
        merged = yaml.safe_load(expand_config_args(["--config", str(CONFIGS / f"{method}.yaml")])[1])
        objective = merged["model"]["objective"]["init_args"]
        weight = objective.get("aesthetic_weight", 0.0)
        rates[method] = (weight["init_args"]["rate"] if isinstance(weight, dict) else weight, objective.get("reverse_aesthetic", False))
    assert rates == {"das": (0.0, False), "das_ag": (0.02, False), "das_ag_plus": (0.06, False),
                     "das_rag": (0.02, True), "das_rag_plus": (0.06, True)}


def test_a_preset_that_swaps_the_guide_keeps_its_settings_however_it_is_stacked(tmp_path: Path) -> None:
    """A second ``--config`` (dasag fit), a ``base:`` list and ``dasag quality --override`` (the task
    engine's merge) give the ensemble's members the demo's logit and drop-connect alike."""
    from dasag.batch.make import method_config

    demo, preset = CONFIGS / "demo.yaml", CONFIGS / "quality" / "ensemble_lite.yaml"
    mine = tmp_path / "mine.yaml"
    mine.write_text(f"base: [{demo}, {preset}]\n")
    by_base = load_config(mine)["model"]["scorer"]
    by_override = method_config(demo, load_config(preset))["model"]["scorer"]
    by_args = yaml.safe_load(expand_config_args(["--config", str(demo), "--config", str(preset)])[3])["model"]["scorer"]
    assert [m["init_args"] for m in by_base["init_args"]["scorers"]] == [{"score": "logit", "drop_connect": 0.2},
                                                                         {"variant": "lite1", "score": "logit", "drop_connect": 0.2}]
    assert by_override == by_base == by_args


def test_384_preset_overrides_the_canvas(tiny_weights_env) -> None:
    # and the built run has DAS-AG v2's settings from the constructors' defaults

    args = expand_config_args(["--config", str(CONFIGS / "das_ag.yaml"), "--config", str(CONFIGS / "preset_384.yaml")])
    cli = DasagCLI(args=[*args, "--data.prompts_file", str(CONFIGS / "prompts" / "mona_lisa.yaml")])
    model = cli.model
    assert (model.pyramid.max_size, model.pyramid.max_shift) == (512, 64)
    assert model.augment.batch_size == 8 and model.objective.prompt.arctanh is True
    optimizer = model.optimizer_factory(model.pyramid.parameters())
    assert optimizer.param_groups[0]["lr"] == 0.1 and optimizer.param_groups[0]["betas"] == (0.5, 0.99)


def _aesthetic_before_and_after(method: str, steps: int, root: Path, *extra: str) -> tuple[float, float]:
    """Clean-image aesthetic score before the first step and after the last, same seed."""
    args = expand_config_args(["--config", str(CONFIGS / f"{method}.yaml")])
    cli = DasagCLI(args=[*args, "--trainer.max_steps", str(steps), "--trainer.default_root_dir", str(root / method),
                         "--data.prompts_file", str(CONFIGS / "prompts" / "mona_lisa.yaml"),
                         "--trainer.logger", "false", "--trainer.enable_checkpointing", "false", *SMALL, *extra])
    cli.model.use_prompts(cli.datamodule.prompts)
    before = cli.model.evaluate()[0]["siglip/aesthetic"]
    cli.trainer.fit(cli.model, datamodule=cli.datamodule)
    return before, cli.model.evaluate()[0]["siglip/aesthetic"]


@pytest.mark.slow
def test_aesthetic_guidance_orders_the_methods(tiny_weights_env, tmp_path: Path) -> None:
    """Same seed, same augmentations: only λ_aes differs, so the final aesthetic score must
    order rAG+ < rAG < DAS < AG < AG+ (the ordering of the published results)."""
    finals = {}
    for method in METHODS:
        before, finals[method] = _aesthetic_before_and_after(method, 10, tmp_path)
        assert math.isfinite(before) and math.isfinite(finals[method])
    order = ["das_rag_plus", "das_rag", "das", "das_ag", "das_ag_plus"]
    assert [finals[m] for m in order] == sorted(finals.values()), finals
    assert finals["das_rag"] < before  # reverse guidance lowers the score outright


@pytest.mark.slow
def test_aesthetic_term_alone_raises_the_score(tiny_weights_env, tmp_path: Path) -> None:
    # On a random tiny model the prompt term happens to pull the aesthetic score down, so the
    # aesthetic term's own direction is checked with the prompt term switched off.
    before, after = _aesthetic_before_and_after("das_ag", 10, tmp_path, "--model.objective.init_args.prompt_weight", "0")
    assert after > before + 0.1, (before, after)


# ------------------------------------------------------------ feature configs
FEATURE_CONFIGS = ("style", "art_from_noise", "edit_from_image", "reference", "inpaint", "value_guided", "best_of_k")


@pytest.mark.slow
@pytest.mark.parametrize("name", FEATURE_CONFIGS)
def test_feature_config_runs_from_cli(name: str, tmp_path: Path, in_repo) -> None:
    rc = main([
        "fit", "--config", f"configs/{name}.yaml", "--trainer.max_steps", "6", "--trainer.default_root_dir", str(tmp_path),
        "--model.pyramid.init_args.max_size", "64", "--model.pyramid.init_args.max_shift", "8",
        "--model.augment.init_args.batch_size", "1", "--model.scorer.init_args.input_size", "64",
        "--trainer.enable_progress_bar", "false", "--trainer.enable_model_summary", "false",
    ])
    assert rc == 0
    assert next(tmp_path.rglob("final.png")).stat().st_size > 0
    if name in ("value_guided", "best_of_k"):
        assert next(tmp_path.rglob("best.png")).stat().st_size > 0


PRESETS = sorted(p.stem for p in (CONFIGS / "quality").glob("*.yaml"))
#: Presets for ImageNet-class guides only: the Lite ensembles replace the guide (a SigLIP prompt is
#: not a class); ``score`` and ``drop_connect`` are a classifier's settings (a text scorer maximises a cosine).
CLASSIFIER_PRESETS = {"ensemble_lite", "best", "logit", "drop_connect"}
#: Every preset on a SigLIP method, the masked pyramid and the Lite0 setups.
PRESET_PAIRS = [(m, p) for p in PRESETS for m in ("das_ag_plus", "inpaint", "transfer", "demo")
                if not (p in CLASSIFIER_PRESETS and load_config(CONFIGS / f"{m}.yaml")["model"]["scorer"]["class_path"].endswith("SigLIP"))]


@pytest.mark.parametrize(("method", "preset"), PRESET_PAIRS)
def test_quality_presets_stack_on_any_method_and_keep_its_classes(method: str, preset: str, tiny_weights_env, in_repo, tmp_path: Path) -> None:
    """Stacked as a user does (a second ``--config``), a preset only sets its values: the
    method's pyramid class (inpaint's masked one), its scorer (unless the preset is the
    ensemble, which fits the ImageNet-class methods) and its objective stay."""
    alone = load_config(CONFIGS / f"{method}.yaml")
    preset_values = load_config(CONFIGS / "quality" / f"{preset}.yaml")
    args = expand_config_args(["--config", str(CONFIGS / f"{method}.yaml"), "--config", str(CONFIGS / "quality" / f"{preset}.yaml")])
    cli = DasagCLI(args=[*args, "--trainer.default_root_dir", str(tmp_path / "run"), "--trainer.logger", "false"])
    model = cli.model
    assert type(model.pyramid).__name__ == alone["model"]["pyramid"].get("class_path", "dasag.ImagePyramid").rsplit(".", 1)[-1]
    assert type(model.objective).__name__ == alone["model"]["objective"]["class_path"].rsplit(".", 1)[-1]
    for key, value in (preset_values.get("model", {}).get("pyramid", {}).get("init_args") or {}).items():
        assert getattr(model.pyramid, key) == value
    for key, value in (preset_values.get("model", {}).get("augment", {}).get("init_args") or {}).items():
        got = getattr(model.augment, key)
        assert (got(0, 1) if callable(got) else got) == value
    assert cli.trainer.max_steps == preset_values.get("trainer", {}).get("max_steps", alone["trainer"].get("max_steps", 60))
    if preset in ("ensemble_lite", "best"):
        assert model.scorer.names == ["lite0", "lite1"]
        # the members start from the method's guide (the demo's logit and drop-connect; transfer's
        # defaults), and best names its own measured settings: the logit, no drop-connect
        guide = alone["model"]["scorer"].get("init_args") or {}
        wanted = ("logit", 0.0) if preset == "best" else (guide.get("score", "log_prob"), guide.get("drop_connect", 0.0))
        assert [(m.score, m.drop_connect) for m in model.scorer.members] == [wanted] * 2
        if (method, preset) == ("demo", "ensemble_lite"):
            assert wanted == ("logit", 0.2)  # it lost both: the ensemble replaced the demo's guide whole
    elif preset == "logit":
        assert model.scorer.members[0].score == "logit"
    elif preset == "drop_connect":
        assert model.scorer.members[0].drop_connect == 0.2
    else:
        assert type(model.scorer.members[0]).__name__ == alone["model"]["scorer"]["class_path"].rsplit(".", 1)[-1]
