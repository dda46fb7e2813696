"""Weight locations from the environment and .env, and safe state-dict loading."""

from __future__ import annotations

import json
import os

import pytest
import torch

from dasag.scorers.weights import WeightLocations, load_state_dict, weight_locations


def test_environment_wins_over_dotenv_and_os_environ_is_untouched(tmp_path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text('SIGLIP_MODEL_PATH="/from/dotenv"\nAESTHETIC_PREDICTOR_PATH=/head/alias.pth\nCLIP_MODEL_PATH=/clip\n')
    before = dict(os.environ)
    locs = weight_locations({"SIGLIP_MODEL_PATH": "/from/env", "HF_HUB_OFFLINE": "1"}, dotenv)
    assert locs == WeightLocations(siglip_model="/from/env", aesthetic_head="/head/alias.pth", clip_model="/clip", offline=True)
    assert dict(os.environ) == before
    assert weight_locations({}, dotenv).siglip_model == "/from/dotenv"
    assert weight_locations({}, tmp_path / "absent.env") == WeightLocations()


def test_primary_head_variable_beats_its_alias() -> None:
    env = {"AESTHETIC_PREDICTOR_MODEL_PATH": "/a.pth", "AESTHETIC_PREDICTOR_PATH": "/b.pth"}
    assert weight_locations(env, None).aesthetic_head == "/a.pth"


def test_clip_model_path_is_a_siglip_alias_only_for_a_siglip_checkpoint(tmp_path) -> None:
    siglip_dir, clip_dir = tmp_path / "s", tmp_path / "c"
    for d, kind in ((siglip_dir, "siglip"), (clip_dir, "clip")):
        d.mkdir()
        (d / "config.json").write_text(json.dumps({"model_type": kind}))
    assert weight_locations({"CLIP_MODEL_PATH": str(siglip_dir)}, None).siglip_model == str(siglip_dir)
    assert weight_locations({"CLIP_MODEL_PATH": str(clip_dir)}, None).siglip_model is None


def test_state_dict_loading(tmp_path) -> None:
    good = tmp_path / "good.pth"
    torch.save({"w": torch.ones(2)}, good)
    assert torch.equal(load_state_dict(good)["w"], torch.ones(2))
    wrapped = tmp_path / "wrapped.pt"
    torch.save({"state_dict": {"w": torch.ones(1)}}, wrapped)
    assert list(load_state_dict(wrapped)) == ["w"]
    tensor_only = tmp_path / "tensor.pt"
    torch.save(torch.ones(3), tensor_only)
    with pytest.raises(ValueError, match="is not a state dict"):
        load_state_dict(tensor_only)


@pytest.mark.parametrize("keep", [0.3, 0.6, 0.95])
def test_a_cut_torch_file_is_one_sentence_at_any_length(tmp_path, keep) -> None:
    """torch 2.13 raises RuntimeError on a cut zip, 2.14 sometimes OSError ("Invalid argument"): both one sentence."""
    whole = tmp_path / "whole.pth"
    torch.save({"w": torch.randn(64, 64)}, whole)
    cut = tmp_path / "cut.pth"
    data = whole.read_bytes()
    cut.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(ValueError, match=r"weights file '.*cut.pth' is truncated or not a torch file"):
        load_state_dict(cut)
    with pytest.raises(FileNotFoundError):
        load_state_dict(tmp_path / "absent.pth")
