"""GPU-only checks: the DAS-AG v2 scorer at full size, through the real loading code.

Skipped on machines without CUDA; the same code paths run on CPU with tiny checkpoints in
tests/scorers/test_hf_common.py and tests/test_configs.py.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from PIL import Image

from dasag.commands import main
from dasag.scorers import SigLIP
from tiny_models import SO400M_VISION, build_tiny_siglip, build_tiny_v25_head

pytestmark = [pytest.mark.gpu, pytest.mark.slow, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def so400m(tmp_path_factory) -> tuple[Path, Path]:
    """A randomly initialised full-size so400m vision tower and a V2.5-shaped head, saved like real weights."""
    base = tmp_path_factory.mktemp("so400m")
    return build_tiny_siglip(base / "model", vision=SO400M_VISION), build_tiny_v25_head(base / "head.pth", in_dim=SO400M_VISION["hidden_size"])


def test_full_size_so400m_loads_in_bf16_with_sdpa(so400m) -> None:
    model_dir, head = so400m
    scorer = SigLIP(model=str(model_dir), aesthetic_head=str(head), attn_implementation="sdpa", dtype="bf16")
    scorer.load().cuda()  # weights load lazily, on the CPU first
    scorer.prepare(["a photo of a goldfish"], ["blurred"])
    assert scorer.model.dtype == torch.bfloat16
    assert scorer.model.config._attn_implementation == "sdpa"
    assert scorer.input_size == 384
    images = (torch.rand(2, 3, 512, 512, device="cuda") * 2 - 1).requires_grad_(True)
    s = scorer(images)
    (s.positive.float().sum() + s.aesthetic.float().sum()).backward()
    assert images.grad is not None and torch.isfinite(images.grad).all() and images.grad.abs().sum() > 0
    assert not any(p.requires_grad for p in scorer.parameters())


def test_das_ag_plus_runs_steps_on_the_gpu(so400m, tmp_path: Path, monkeypatch) -> None:
    model_dir, head = so400m
    monkeypatch.chdir(ROOT)  # the prompts file is relative to the repository root
    rc = main(["fit", "--config", "configs/das_ag_plus.yaml", "--trainer.max_steps", "3", "--trainer.accelerator", "gpu",
               "--trainer.default_root_dir", str(tmp_path), "--model.scorer.init_args.model", str(model_dir),
               "--model.scorer.init_args.aesthetic_head", str(head), "--model.scorer.init_args.attn_implementation", "sdpa"])
    assert rc == 0
    final = next(tmp_path.rglob("final.png"))
    with Image.open(final) as im:
        assert im.size == (768, 768)
        meta = json.loads(im.text["dasag"])
    assert meta["step"] == 3
    assert all(math.isfinite(meta["scores"][f"siglip/{k}"]) for k in ("positive", "negative", "aesthetic"))
