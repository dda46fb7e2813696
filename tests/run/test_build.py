"""build_run: a config (or command-line options) into a checked run, the way every command builds one."""

from __future__ import annotations

from pathlib import Path

import pytest

from dasag.core.config import CONFIGS, deep_merge, load_config
from dasag.core.errors import ConfigError
from dasag.run.build import build_run, scorer_key


def demo(tmp_path: Path, **model) -> dict:
    cfg = load_config(CONFIGS / "demo.yaml")
    cfg["trainer"]["default_root_dir"] = str(tmp_path / "runs")
    return deep_merge(cfg, {"model": model}) if model else cfg


def test_build_run_builds_what_the_cli_builds_and_loads_nothing(tmp_path):
    built = build_run(demo(tmp_path))
    assert built.trainer.max_steps == 60 and not built.model.scorer.members[0].loaded
    assert built.run_config == built.model.run_config
    assert "batch_size" not in built.run_config["model"]["augment"].get("init_args", {})  # the default: not recorded
    assert built.run_config["model"]["pyramid"]["init_args"]["max_shift"] == 128  # differs from the default (64): recorded
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(
    "change, message",
    [
        ({"pyramid": {"init_args": {"max_size": 100}}}, "power of two"),
        ({"augment": {"init_args": {"batch_size": 0}}}, "batch_size must be a positive integer"),
        ({"objective": {"init_args": {"tv_weight": -1.0}}}, "tv_weight must be a number from 0 to 1000"),
    ],
)
def test_build_run_errors_are_one_sentence(tmp_path, change, message):
    with pytest.raises(ConfigError) as e:
        build_run(demo(tmp_path, **change))
    assert message in str(e.value) and "\n" not in str(e.value)


def test_build_run_checks_prompts_against_the_scorer_before_weights_load(tmp_path):
    cfg = deep_merge(demo(tmp_path), {"data": {"positive_prompts": ["goldfsh"]}})
    with pytest.raises(ConfigError, match="Closest class names: goldfish"):
        build_run(cfg)


def test_shared_scorer_is_used_and_keyed_by_the_scorer_config(tmp_path):
    cache: dict = {}
    first = build_run(demo(tmp_path), share_scorer=lambda key, fresh: cache.setdefault(key, fresh))
    second = build_run(demo(tmp_path), share_scorer=lambda key, fresh: cache.setdefault(key, fresh))
    assert second.model.scorer is first.model.scorer and list(cache) == [scorer_key(demo(tmp_path))]


def test_an_old_module_path_in_a_users_config_is_one_sentence_naming_the_new_one(tmp_path):
    config = deep_merge(demo(tmp_path), {"model": {"augment": {"class_path": "dasag.cutouts.Cutouts"}}})
    with pytest.raises(ConfigError, match=r"model\.augment\.class_path: 'dasag\.cutouts\.Cutouts' does not exist .*; write dasag\.Cutouts\."):
        build_run(config)
    with pytest.raises(ConfigError, match=r"model\.optimizer: 'dasag\.module\.default_optimizer' does not exist .*write dasag\.run\.module\.default_optimizer"):
        build_run(deep_merge(demo(tmp_path), {"model": {"optimizer": "dasag.module.default_optimizer"}}))


def test_every_run_anneals_and_a_trainer_without_the_callback_is_refused(tmp_path):
    import lightning as L

    from dasag.run.callbacks import ScheduleAnnealing

    built = build_run(demo(tmp_path))
    assert sum(isinstance(c, ScheduleAnnealing) for c in built.trainer.callbacks) == 1
    bare = L.Trainer(max_steps=1, accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
                     default_root_dir=tmp_path)
    with pytest.raises(RuntimeError, match="needs dasag.ScheduleAnnealing among the Trainer's callbacks"):
        bare.fit(built.model, datamodule=built.datamodule)


def test_a_scorer_may_be_written_by_its_registry_name_in_a_config_and_on_the_command_line(tmp_path):
    import yaml

    from dasag.scorers import EfficientNetLite

    config = demo(tmp_path)
    config["model"]["scorer"] = "lite1"  # replaces the demo's mapping whole, as any value
    built = build_run(config)
    (member,) = built.model.scorer.members
    assert isinstance(member, EfficientNetLite) and member.variant == "lite1" and member.score == "log_prob"
    assert built.run_config["model"]["scorer"]["init_args"]["variant"] == "lite1"  # the picture records the class, not the name
    text = yaml.safe_dump(demo(tmp_path))
    built = build_run(["--config", text, "--model.scorer", "lite2", "--model.scorer.init_args.score", "logit"])
    (member,) = built.model.scorer.members
    assert member.variant == "lite2" and member.score == "logit"  # the name, then the arguments added to it
    built = build_run(["--config", text, "--model.scorer=lite2"])
    assert built.model.scorer.members[0].variant == "lite2"


def test_an_ensembles_members_may_be_names_and_an_unknown_name_is_one_sentence(tmp_path):
    import yaml

    config = demo(tmp_path)
    config["model"]["scorer"] = {"class_path": "dasag.scorers.ScorerEnsemble", "init_args": {"scorers": ["lite0", "lite1"], "weights": [1.0, 0.5]}}
    built = build_run(config)
    assert [m.variant for m in built.model.scorer.members] == ["lite0", "lite1"] and built.model.scorer.weights == [1.0, 0.5]
    built = build_run(["--config", yaml.safe_dump(config), "--model.scorer.init_args.scorers", '["lite2", "lite0"]'])
    assert [m.variant for m in built.model.scorer.members] == ["lite2", "lite0"]  # names on the command line too
    config["model"]["scorer"] = "lite9"
    with pytest.raises(ConfigError, match=r"^unknown model.scorer 'lite9' \(closest: lite2, lite1, lite0\); a scorer is named lite0, lite1, lite2"):
        build_run(config)
    with pytest.raises(ConfigError, match=r"unknown model.scorer 'resnet'"):
        build_run(["--config", "demo", "--model.scorer", "resnet"])


def test_an_init_arg_the_class_does_not_take_names_the_class_and_its_arguments(tmp_path):
    """drop_connect on an ensemble was "import path ScorerEnsemble does not correspond to a subclass of Scorer"."""
    config = demo(tmp_path)
    config["model"]["scorer"] = {"class_path": "dasag.scorers.ScorerEnsemble",
                                 "init_args": {"drop_connect": 0.2, "scorers": [{"class_path": "dasag.scorers.EfficientNetLite"}]}}
    with pytest.raises(ConfigError) as caught:
        build_run(config)
    sentence = str(caught.value)
    assert sentence.startswith("model.scorer: dasag.scorers.ScorerEnsemble takes no argument 'drop_connect' (its arguments: scorers, weights); "
                               "drop_connect is an argument of each member (EfficientNetLite")  # and any other classifier that takes it
    assert sentence.endswith(" it): set model.scorer.init_args.scorers[i].init_args.drop_connect.") and "SigLIP" not in sentence
    config["model"]["scorer"]["init_args"] = {"scorers": [{"class_path": "dasag.scorers.EfficientNetLite", "init_args": {"hue": 1}}]}
    with pytest.raises(ConfigError, match=r"^model\.scorer\.init_args\.scorers: dasag\.scorers\.EfficientNetLite takes no argument 'hue' "
                                          r"\(its arguments: variant, input_size, score, .*drop_connect.*\)\.$"):
        build_run(config)
    config["model"]["scorer"]["init_args"] = {"bogus": 1, "scorers": [{"class_path": "dasag.scorers.EfficientNetLite"}]}
    with pytest.raises(ConfigError, match=r"^model\.scorer: dasag\.scorers\.ScorerEnsemble takes no argument 'bogus' \(its arguments: scorers, weights\)\.$"):
        build_run(config)  # no member takes it: no member key to point at


@pytest.mark.parametrize(("trainer", "left_out"), [
    ({"enable_checkpointing": False}, {"ModelCheckpoint"}),
    ({"logger": False}, {"LearningRateMonitor", "DeviceStatsMonitor"}),
    ({"logger": False, "enable_checkpointing": False}, {"ModelCheckpoint", "LearningRateMonitor", "DeviceStatsMonitor"}),
    ({}, set()),
])
def test_the_configs_callbacks_follow_the_trainers_switches(trainer, left_out, tmp_path):
    """The demo names ModelCheckpoint and LearningRateMonitor: Lightning refused them with checkpoints or the logger off."""
    config = deep_merge(demo(tmp_path), {"trainer": trainer})
    config["trainer"]["callbacks"].append({"class_path": "lightning.pytorch.callbacks.DeviceStatsMonitor"})
    named = {c["class_path"].rpartition(".")[2] for c in config["trainer"]["callbacks"]}
    built = build_run(config)
    assert {type(c).__name__ for c in built.trainer.callbacks} >= named - left_out
    assert not {type(c).__name__ for c in built.trainer.callbacks} & left_out
    assert not (tmp_path / "runs").exists()
