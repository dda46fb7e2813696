"""Checking a --ckpt_path before a run starts: read_checkpoint's one-sentence refusals and check_resume's step and pyramid checks."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from torch import nn

from dasag.image.pyramid import ImagePyramid
from dasag.run.resume import check_resume, read_checkpoint


class Run(nn.Module):
    """What check_resume compares: a pyramid (the run's own tensors) beside a frozen scorer (never in a checkpoint)."""

    def __init__(self, max_size: int = 16, num_images: int = 1) -> None:
        super().__init__()
        self.pyramid = ImagePyramid(max_size=max_size, max_shift=2, num_images=num_images)
        self.scorer = nn.Linear(3, 2)


def saved(model: nn.Module, step: int = 3) -> dict:
    """A checkpoint as Lightning writes it for ``model``, without the scorer (as DirectAscent saves it),
    with Adam's state after one step and the lr schedule's."""
    state = {k: v for k, v in model.state_dict().items() if not k.startswith("scorer.")}
    params = [p for name, p in model.named_parameters() if not name.startswith("scorer.")]
    adam = {"state": {i: {"step": torch.tensor(1.0), "exp_avg": torch.zeros_like(p), "exp_avg_sq": torch.zeros_like(p)} for i, p in enumerate(params)},
            "param_groups": [{"lr": 0.1, "params": list(range(len(params)))}]}
    return {"state_dict": state, "global_step": step, "epoch": 0, "optimizer_states": [adam], "lr_schedulers": [{"last_epoch": step}]}


def write(path: Path, checkpoint) -> Path:
    torch.save(checkpoint, path)
    return path


class RunsCode:
    """Unpickling this would touch a marker file through os.system: a checkpoint that is not weights-only."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def refusal(call, *args) -> str:
    """The one sentence a bad checkpoint gives (no chained traceback behind it)."""
    with pytest.raises((ValueError, FileNotFoundError)) as info:
        call(*args)
    error = info.value
    assert error.__cause__ is None and (error.__context__ is None or error.__suppress_context__)
    message = str(error)
    assert "\n" not in message and message.endswith(".")
    return message


# ------------------------------------------------------------------ read_checkpoint
def test_a_good_checkpoint_is_read_weights_only(tmp_path):
    checkpoint = saved(Run())
    loaded = read_checkpoint(write(tmp_path / "last.ckpt", checkpoint))
    assert loaded["global_step"] == 3 and set(loaded["state_dict"]) == set(checkpoint["state_dict"])
    assert all(torch.equal(loaded["state_dict"][k], v) for k, v in checkpoint["state_dict"].items())
    assert read_checkpoint(str(tmp_path / "last.ckpt"))["global_step"] == 3  # a str path as the CLI passes it


def test_a_missing_file_is_one_sentence(tmp_path):
    path = tmp_path / "nope.ckpt"
    with pytest.raises(FileNotFoundError):
        read_checkpoint(path)
    assert refusal(read_checkpoint, path) == f"--ckpt_path {str(path)!r} does not exist."


def test_a_folder_is_named_as_a_folder_not_as_missing(tmp_path):
    """It said "does not exist" of a folder that plainly exists."""
    assert refusal(read_checkpoint, tmp_path) == f"--ckpt_path {str(tmp_path)!r} is a folder, not a checkpoint file: name its checkpoints/last.ckpt."


def test_an_empty_file_is_a_save_cut_short(tmp_path):
    path = tmp_path / "empty.ckpt"
    path.write_bytes(b"")
    message = refusal(read_checkpoint, path)
    assert message.startswith(f"--ckpt_path {str(path)!r} is empty (0 bytes)") and "earlier checkpoint" in message


def test_a_truncated_zip_and_plain_garbage_are_not_checkpoints(tmp_path):
    whole = write(tmp_path / "whole.ckpt", saved(Run())).read_bytes()
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(whole[: len(whole) // 2])
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_bytes(b"\x00\x01 not a checkpoint at all" * 10)
    for path in (truncated, garbage):
        assert refusal(read_checkpoint, path).startswith(f"--ckpt_path {str(path)!r} is truncated or not a checkpoint")


def test_a_pickled_callable_is_refused_and_never_run(tmp_path):
    marker = tmp_path / "ran"
    path = write(tmp_path / "malicious.ckpt", {"state_dict": {}, "payload": RunsCode(marker)})
    message = refusal(read_checkpoint, path)
    assert "refused (loading it could run code)" in message and str(path) in message
    assert not marker.exists()
    builtin = write(tmp_path / "builtin.ckpt", {"state_dict": {}, "hook": len})  # any global that is not a tensor or a plain value
    assert "refused" in refusal(read_checkpoint, builtin)


@pytest.mark.parametrize("contents", [{"global_step": 3}, {"state_dict": torch.zeros(2)}, [torch.zeros(2)]])
def test_something_without_a_state_dict_is_not_a_lightning_checkpoint(tmp_path, contents):
    path = write(tmp_path / "other.ckpt", contents)
    assert refusal(read_checkpoint, path).startswith(f"--ckpt_path {str(path)!r} is not a Lightning checkpoint (it has no state_dict): ")


def test_the_callers_advice_replaces_the_ckpt_path_advice(tmp_path):
    path = tmp_path / "empty.ckpt"
    path.write_bytes(b"")
    message = refusal(read_checkpoint, path, "the progress of stage 2", "delete it to make that stage from its start")
    assert message == f"the progress of stage 2 {str(path)!r} is empty (0 bytes), a save cut short: delete it to make that stage from its start."


# ------------------------------------------------------------------ check_resume
def test_a_checkpoint_of_this_pyramid_with_steps_left_is_accepted(tmp_path):
    model = Run()
    path = tmp_path / "last.ckpt"
    assert check_resume(path, saved(model, step=3), model, max_steps=4) is None
    assert check_resume(path, saved(model, step=30), model, max_steps=None) is None  # no run length to compare with
    with_scorer = {**saved(model), "state_dict": {**saved(model)["state_dict"], "scorer.weight": torch.zeros(7)}}
    assert check_resume(path, with_scorer, model, max_steps=4) is None  # the scorer's tensors are never compared


@pytest.mark.parametrize("step", [5, 8])
def test_a_checkpoint_that_already_ran_the_whole_budget_is_refused_naming_its_step(tmp_path, step):
    model, path = Run(), tmp_path / "last.ckpt"
    message = refusal(check_resume, path, saved(model, step=step), model, 5)
    assert f"has already run {step} steps and trainer.max_steps is 5" in message
    assert f"set trainer.max_steps above {step}" in message and str(path) in message


def test_another_number_of_images_is_refused_naming_the_keys_whose_shapes_differ(tmp_path):
    model, other = Run(num_images=1), Run(num_images=2)
    checkpoint = saved(other)
    message = refusal(check_resume, tmp_path / "last.ckpt", checkpoint, model, 10)
    assert "was made with another pyramid" in message and "config.yaml" in message
    differing = [k for k, v in model.state_dict().items() if not k.startswith("scorer.") and checkpoint["state_dict"][k].shape != v.shape]
    assert len(differing) > 4  # every level holds both images
    for key in differing[:4]:
        assert f"{key} {tuple(checkpoint['state_dict'][key].shape)} vs {tuple(model.state_dict()[key].shape)}" in message
    assert differing[4] not in message and message.rstrip(".").count(" vs ") == 4  # the first four, then " ..."
    assert "missing" not in message  # the same keys, other shapes


def test_another_size_is_refused_counting_the_tensors_missing_and_extra(tmp_path):
    small, large = Run(max_size=16), Run(max_size=32)
    extra = set(large.state_dict()) - set(small.state_dict())
    assert extra  # a larger pyramid has more levels
    message = refusal(check_resume, tmp_path / "last.ckpt", saved(large), small, 10)
    assert f"0 of this run's tensors missing, {len(extra)} extra" in message
    message = refusal(check_resume, tmp_path / "last.ckpt", saved(small), large, 10)
    assert f"{len(extra)} of this run's tensors missing, 0 extra" in message


def test_a_checkpoint_saved_weights_only_is_one_sentence_not_lightnings_key_error(tmp_path):
    """Lightning raised its own KeyError ("Trying to restore optimizer state but checkpoint contains only the model") inside fit."""
    model = Run()
    for missing in ("optimizer_states", "lr_schedulers"):
        checkpoint = {k: v for k, v in saved(model).items() if k != missing}
        message = refusal(check_resume, tmp_path / "weights.ckpt", checkpoint, model, 10)
        assert "holds no optimizer state (it was saved weights-only), so a run cannot continue from it" in message, message
        assert message.endswith("continue from a full checkpoint, e.g. the run's checkpoints/last.ckpt.")
    empty = {**saved(model), "optimizer_states": []}  # Adam would silently start again
    assert "holds no optimizer state" in refusal(check_resume, tmp_path / "weights.ckpt", empty, model, 10)


@pytest.mark.parametrize("where", ["state_dict", "optimizer_states"])
def test_a_checkpoint_holding_nan_is_refused_naming_the_tensor(tmp_path, where):
    """Resumed, a pyramid (or Adam's moments) of NaN made a black picture without a word."""
    model = Run()
    checkpoint = saved(model)
    if where == "state_dict":
        checkpoint["state_dict"]["pyramid.levels.2"].fill_(float("nan"))
        key = "state_dict.pyramid.levels.2"
    else:
        checkpoint["optimizer_states"][0]["state"][1]["exp_avg_sq"].fill_(float("inf"))
        key = "optimizer_states.0.state.1.exp_avg_sq"
    message = refusal(check_resume, tmp_path / "nan.ckpt", checkpoint, model, 10, "--ckpt_path", "start again")
    assert message == (f"--ckpt_path {str(tmp_path / 'nan.ckpt')!r} holds values that are not finite (NaN or infinity) in {key}, "
                       "so a run continued from it would make a blank picture: start again.")


def test_another_pyramid_is_named_before_its_step_count(tmp_path):
    """A growth stage's progress file put at another stage's name was refused as 'already run 5 steps' (its stage's
    budget), which says nothing of the real trouble; ``budget`` names the setting a caller's run length comes from."""
    small, large = Run(max_size=16), Run(max_size=32)
    assert "was made with another pyramid" in refusal(check_resume, tmp_path / "last.ckpt", saved(large, step=9), small, 5)
    message = refusal(check_resume, tmp_path / "p.ckpt", saved(small, step=5), small, 5, "the progress of stage 1", "delete it", "stage 1's growth.steps")
    assert message == (f"the progress of stage 1 {str(tmp_path / 'p.ckpt')!r} has already run 5 steps and stage 1's growth.steps is 5, "
                       "so nothing is left to do: delete it.")
