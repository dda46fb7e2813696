"""Making one suite image's config: a method's YAML with the run's overrides and inlined prompts, and each task's seed, prompt and step budget."""

from __future__ import annotations

import copy
import inspect
from pathlib import Path

import pytest
import yaml

from dasag.batch.make import method_config, prompts_of, steps_of, task_config
from dasag.batch.tasks import Task
from dasag.core.errors import ConfigError
from dasag.image.pyramid import ImagePyramid


def write(path: Path, data: dict) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    return path


PYRAMID = {"class_path": "dasag.ImagePyramid", "init_args": {"max_size": 128, "max_shift": 16}}


def method_file(folder: Path, **data) -> Path:
    """A method config on a base file, as the shipped suite configs are."""
    write(folder / "base.yaml", {"model": {"pyramid": PYRAMID}, "trainer": {"max_steps": 60}})
    return write(folder / "method.yaml", {"base": "base.yaml", **data})


# ------------------------------------------------------------------ method_config
def test_method_config_merges_the_runs_overrides_over_the_methods_yaml(tmp_path):
    path = method_file(tmp_path, data={"positive_prompts": ["a cat"]})
    cfg = method_config(path, {"model": {"pyramid": {"init_args": {"max_size": 64}}}, "trainer": {"max_steps": 5}})
    assert cfg["model"]["pyramid"] == {"class_path": "dasag.ImagePyramid", "init_args": {"max_size": 64, "max_shift": 16}}
    assert cfg["trainer"]["max_steps"] == 5 and cfg["data"]["positive_prompts"] == ["a cat"]
    assert method_config(path)["model"]["pyramid"] == PYRAMID and "base" not in method_config(path)


def test_method_config_inlines_the_prompts_file_named_beside_it_from_any_folder(tmp_path, monkeypatch):
    write(tmp_path / "methods" / "prompts.yaml", {"positive_prompts": ["a cat", "a lighthouse"], "negative_prompts": ["blurred"]})
    path = method_file(tmp_path / "methods", data={"prompts_file": "prompts.yaml", "positive_prompts": ["a dog"]})
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    data = method_config(path)["data"]
    assert data == {"positive_prompts": ["a cat", "a lighthouse", "a dog"], "negative_prompts": ["blurred"]}  # the file's first


def test_method_config_refuses_a_missing_prompts_file_in_one_sentence(tmp_path):
    path = method_file(tmp_path, data={"prompts_file": "nowhere.yaml"})
    with pytest.raises(ConfigError, match="nowhere.yaml") as info:
        method_config(path)
    assert "\n" not in str(info.value)


def test_single_resolution_sets_min_size_to_the_max_size_the_overrides_chose(tmp_path):
    path = method_file(tmp_path)
    assert "min_size" not in method_config(path)["model"]["pyramid"]["init_args"]
    assert method_config(path, single_resolution=True)["model"]["pyramid"]["init_args"]["min_size"] == 128
    small = method_config(path, {"model": {"pyramid": {"init_args": {"max_size": 64}}}}, single_resolution=True)
    assert small["model"]["pyramid"]["init_args"]["min_size"] == small["model"]["pyramid"]["init_args"]["max_size"] == 64


def test_single_resolution_without_a_max_size_uses_the_pyramids_default(tmp_path):
    path = write(tmp_path / "bare.yaml", {"trainer": {"max_steps": 10}})
    default = inspect.signature(ImagePyramid).parameters["max_size"].default
    assert method_config(path, single_resolution=True)["model"]["pyramid"]["init_args"] == {"min_size": default}


# ------------------------------------------------------------------ task_config
BASE = {"seed_everything": 0, "trainer": {"max_steps": 60}, "data": {"positive_prompts": ["a cat"], "negative_prompts": ["blurred"]}}


def test_a_task_config_has_the_tasks_seed_and_prompt():
    base = copy.deepcopy(BASE)
    cfg = task_config(base, Task("pyramid", 2, seed=42, prompt="goldfish"), None)
    assert cfg["seed_everything"] == 42
    assert cfg["data"] == {"positive_prompts": ["goldfish"], "negative_prompts": []}  # the class alone: no negatives
    assert cfg["trainer"]["max_steps"] == 60
    assert base == BASE  # the method's config is shared by every task: never changed


def test_a_task_without_a_prompt_keeps_the_methods_prompts():
    cfg = task_config(BASE, Task("das", 0, seed=5), None)
    assert cfg["data"] == BASE["data"] and cfg["seed_everything"] == 5


def test_steps_replace_the_configs_budget_and_the_tasks_overrides_come_last():
    task = Task("row", 0, seed=5, prompt="goldfish", overrides={"seed_everything": 9, "trainer": {"max_steps": 7}, "data": {"negative_prompts": ["dark"]}})
    assert task_config(BASE, Task("row", 0, 5), 20)["trainer"]["max_steps"] == 20
    cfg = task_config(BASE, task, 20)
    assert cfg["seed_everything"] == 9 and cfg["trainer"]["max_steps"] == 7
    assert cfg["data"] == {"positive_prompts": ["goldfish"], "negative_prompts": ["dark"]}


def test_a_methods_step_share_scales_the_runs_step_budget_whichever_sets_it():
    task = Task("m", 0, 3, prompt="goldfish")
    base = {"trainer": {"max_steps": 60}}
    assert task_config(base, task, None)["trainer"]["max_steps"] == 60
    assert task_config(base, task, None, step_share=0.55)["trainer"]["max_steps"] == 33  # the config's budget
    assert task_config(base, task, 10, step_share=0.55)["trainer"]["max_steps"] == 6  # --steps, then the share
    assert task_config(base, task, 1, step_share=0.4)["trainer"]["max_steps"] == 1  # never 0 steps
    assert task_config({"trainer": {}}, task, None, step_share=0.5)["trainer"] == {}  # a missing budget is left for steps_of to name


@pytest.mark.parametrize(("budget", "share"), [(60, 0.55), (10, 0.25), (7, 0.5), (3, 0.1), (100, 0.333)])
def test_a_shared_budget_is_the_nearest_whole_step_count_and_at_least_one(budget, share):
    steps = task_config({"trainer": {"max_steps": budget}}, Task("m", 0, 3), None, step_share=share)["trainer"]["max_steps"]
    assert isinstance(steps, int) and steps >= 1
    assert abs(steps - budget * share) <= 0.5 or steps == 1


def test_a_budget_that_is_not_a_step_count_is_left_for_steps_of_to_name():
    for budget in (True, 0, "60", 2.5):
        cfg = task_config({"trainer": {"max_steps": budget}}, Task("m", 0, 3), None, step_share=0.5)
        assert cfg["trainer"]["max_steps"] == budget


# ------------------------------------------------------------------ steps_of, prompts_of
def test_steps_of_reads_the_budget():
    assert steps_of({"trainer": {"max_steps": 12}}) == 12


@pytest.mark.parametrize("cfg", [{}, {"trainer": None}, {"trainer": {}}, {"trainer": {"max_steps": None}}])
def test_steps_of_refuses_a_missing_budget_in_one_sentence(cfg):
    with pytest.raises(ConfigError, match=r"^trainer.max_steps must be a positive integer; got None\.$"):
        steps_of(cfg)


@pytest.mark.parametrize("budget", [0, -3, 2.5, "60", True])
def test_steps_of_refuses_a_budget_that_is_not_a_positive_integer(budget):
    with pytest.raises(ConfigError, match=rf"^trainer.max_steps must be a positive integer; got {budget!r}\.$"):
        steps_of({"trainer": {"max_steps": budget}})


def test_prompts_of_parses_the_configs_prompts_and_names_a_bad_one_as_data():
    prompts = prompts_of({"data": {"positive_prompts": ["a cat", "a dog"], "negative_prompts": ["blurred"]}})
    assert prompts.positive == ("a cat", "a dog") and prompts.negative == ("blurred",)
    assert prompts_of({}).positive == ()
    with pytest.raises(ConfigError, match=r"data\."):
        prompts_of({"data": {"positive_prompts": [{"weight": 2.0}]}})


def test_a_scorer_override_reaches_every_member_of_an_ensemble_method() -> None:
    """``--override`` with ``model.scorer.init_args`` on the ensemble method: each member gets it
    (an ensemble has no ``score`` of its own), the ensemble keeps its own ``weights``."""
    from dasag.core.config import CONFIGS

    overrides = {"model": {"scorer": {"init_args": {"score": "logit", "weights": [2.0, 1.0]}}}, "trainer": {"max_steps": 7}}
    cfg = method_config(CONFIGS / "transfer_robust_ensemble.yaml", overrides, method="robust_ensemble")
    scorer = cfg["model"]["scorer"]
    assert scorer["class_path"].endswith("ScorerEnsemble") and scorer["init_args"]["weights"] == [2.0, 1.0]
    members = scorer["init_args"]["scorers"]
    assert len(members) == 2 and all(m["init_args"]["score"] == "logit" for m in members)
    assert members[1]["init_args"]["variant"] == "lite1" and cfg["trainer"]["max_steps"] == 7
    single = method_config(CONFIGS / "transfer_robust.yaml", overrides)  # a single guide takes the override as it is
    assert single["model"]["scorer"]["init_args"]["score"] == "logit"


def test_a_scorer_class_override_on_an_ensemble_method_is_one_sentence_naming_it() -> None:
    from dasag.core.config import CONFIGS

    overrides = {"model": {"scorer": {"class_path": "dasag.scorers.EfficientNetLite", "init_args": {"variant": "lite2"}}}}
    with pytest.raises(ConfigError, match=r"^--override sets model.scorer to dasag.scorers.EfficientNetLite, but method 'robust_ensemble' is guided "
                                          r"by an ensemble; give only model.scorer.init_args \(applied to each member\)"):
        method_config(CONFIGS / "transfer_robust_ensemble.yaml", overrides, method="robust_ensemble")
