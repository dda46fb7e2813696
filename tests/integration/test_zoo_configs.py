"""The shipped configs whose scorers come from the zoo extra (open_clip, timm): `das_original`, the
original DAS ensemble of three OpenCLIP ViT-B/32 models. Offline without its weights it is one
sentence and exit 2 in either venv; in the zoo venv it builds, and runs on random weights read
through the path a user's local checkpoint takes."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from dasag.commands import main
from dasag.core.config import CONFIGS, load_config
from dasag.run.build import build_run


def test_the_original_das_offline_without_weights_is_one_sentence_and_exit_2(tmp_path: Path, monkeypatch, capsys) -> None:
    """Here (no open_clip) it says which extra to install; in the zoo venv, which weights to download and where to point them."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "empty_hf_home"))  # no cached weights, whatever this machine holds
    rc = main(["fit", "--config", "das_original", "--trainer.default_root_dir", str(tmp_path / "runs")])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and err.count("\n") == 0 and err.startswith("error: "), err
    if importlib.util.find_spec("open_clip") is None:
        assert "open_clip scorers need open_clip_torch, which is not installed: pip install 'dasag[zoo]'" in err
    else:
        assert "hf download laion/CLIP-ViT-B-32-laion2B-s34B-b79K" in err and "@FILE" in err
    assert not (tmp_path / "runs").exists() and sorted(p.name for p in tmp_path.iterdir()) == []


@pytest.mark.zoo
def test_the_original_das_builds_its_three_models_without_loading_weights(tmp_path: Path, monkeypatch) -> None:
    """Online (the hub may be asked at load time), the config builds: its three models named as the notebook's, nothing read."""
    from dasag.scorers.weights import use_weight_locations

    for name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    use_weight_locations(None)
    config = load_config(CONFIGS / "das_original.yaml")
    config["trainer"]["default_root_dir"] = str(tmp_path / "runs")
    built = build_run(config)
    members = built.model.scorer.members
    assert [(m.model_name, m.tag) for m in members] == [
        ("ViT-B-32", "laion2b_s34b_b79k"), ("ViT-B-32-quickgelu", "openai"), ("ViT-B-32", "laion400m_e32")]
    assert not any(m.loaded for m in members) and built.model.scorer.weights == [1.0, 1.0, 1.0]
    assert built.model.pyramid.sizes == list(range(1, 337)) and built.model.pyramid.visible_size == 224
    assert built.trainer.max_steps == 100 and not (tmp_path / "runs").exists()


@pytest.fixture(scope="module")
def random_vit_b32(tmp_path_factory) -> Path:
    """A randomly initialised ViT-B-32 saved as a safetensors checkpoint (the three members share its shapes)."""
    import open_clip
    import torch
    from safetensors.torch import save_file

    torch.manual_seed(0)
    model = open_clip.create_model("ViT-B-32", pretrained=None)
    path = tmp_path_factory.mktemp("vit_b32") / "random_vit_b32.safetensors"
    save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(path))
    return path


@pytest.mark.zoo
@pytest.mark.slow
def test_the_original_das_runs_end_to_end_on_random_weights_read_as_a_users_checkpoints(tmp_path: Path, random_vit_b32: Path, monkeypatch) -> None:
    """Each member reads the tag's file from disk (the way a user points it at a download), offline; a short
    run at the notebook's canvas and levels writes a picture whose metadata names the three models."""
    import json

    from PIL import Image

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    rc = main(["fit", "--config", "das_original", "--trainer.max_steps", "2", "--model.augment.init_args.batch_size", "2",
               "--trainer.default_root_dir", str(tmp_path / "runs"), "--trainer.enable_progress_bar", "false",
               "--model.scorer.init_args.scorers",
               json.dumps([f"open_clip:ViT-B-32/laion2b_s34b_b79k@{random_vit_b32}", f"open_clip:ViT-B-32-quickgelu/openai@{random_vit_b32}",
                           f"open_clip:ViT-B-32/laion400m_e32@{random_vit_b32}"])])
    assert rc == 0
    final = next((tmp_path / "runs").rglob("final.png"))
    with Image.open(final) as image:
        assert image.size == (224, 224)
        meta = json.loads(image.text["dasag"])
    members = meta["config"]["model"]["scorer"]["init_args"]["scorers"]
    assert [m["init_args"]["model"] for m in members] == ["ViT-B-32", "ViT-B-32-quickgelu", "ViT-B-32"] and meta["step"] == 2
