"""The DAS-AG v2 compatibility overlay (configs/compat/das_ag_v2_original.yaml).

The central test builds a run from a method config plus the overlay, exactly as the CLI and
the harness do, and checks one ascent step against a reference written from the original's
published formulas (DESIGN.md, docs/fidelity.md), sharing only the frozen models' weights and
the step's random draws: schedules at t / T, the render, jitter/colour/noise, the bilinear
resize without antialias, fp16 weights without autocast, arctanh of the batch-mean
similarity, the head's dropout, and TV = mean |Δ| and L1 = mean |x| of the resized batch.
"""

from __future__ import annotations

import math
from contextlib import nullcontext

import pytest
import torch
import torch.nn.functional as F
import yaml

from dasag.core.config import CONFIGS, deep_merge, load_config
from dasag.image.augment import step_generator
from dasag.run.build import build_run
from dasag.run.callbacks import ScheduleAnnealing
from dasag.run.metadata import constructor_default
from dasag.run.module import DirectAscent, dropout_seed

OVERLAY = CONFIGS / "compat" / "das_ag_v2_original.yaml"
METHODS = ("das", "das_ag", "das_ag_plus", "das_rag", "das_rag_plus")
#: A 64 px canvas (48 px visible), 2 copies, 10 steps; the tiny SigLIP reads 32 px, so the
#: overlay's "2 px over the checkpoint's size" (386 for 384) becomes 34 here: the same patch grid.
SMALL = {
    "trainer": {"max_steps": 10, "accelerator": "cpu", "logger": False, "enable_checkpointing": False, "callbacks": [],
                "enable_progress_bar": False, "enable_model_summary": False},
    "model": {"pyramid": {"init_args": {"max_size": 64, "max_shift": 8}}, "augment": {"init_args": {"batch_size": 2}},
              "scorer": {"init_args": {"input_size": 34}}},
    "data": {"positive_prompts": ["a photo of a goldfish"], "negative_prompts": ["blurred", "a drawing of a dog in the rain"],
             "prompts_file": None},
}


def compat_run(method: str, tmp_path, overlay: bool = True, extra: dict | None = None):
    config = load_config(CONFIGS / f"{method}.yaml")
    if overlay:
        config = deep_merge(config, load_config(OVERLAY))
    config = deep_merge(config, deep_merge(SMALL, {"trainer": {"default_root_dir": str(tmp_path)}}))
    if extra:
        config = deep_merge(config, extra)
    built = build_run(config)
    built.model.trainer = built.trainer
    built.model.use_prompts(built.datamodule.prompts)
    return built.model


def test_overlay_states_only_settings_that_differ_from_the_defaults() -> None:
    from dasag import Augmentations, Objective
    from dasag.scorers import SigLIP

    overlay = yaml.safe_load(OVERLAY.read_text())["model"]
    owners = {"scorer": SigLIP, "augment": Augmentations, "objective": Objective}
    for part, cls in owners.items():
        for key, value in overlay[part]["init_args"].items():
            assert value != constructor_default(cls, key), f"{part}.{key} restates the default"
    for key in ("schedule_time_base", "scorer_precision"):
        assert overlay[key] != constructor_default(DirectAscent, key)


@pytest.mark.parametrize("method", METHODS)
def test_overlay_builds_on_every_method_without_loading_weights(method, tiny_weights_env, tmp_path) -> None:
    config = deep_merge(load_config(CONFIGS / f"{method}.yaml"), load_config(OVERLAY))
    assert config["model"]["scorer"]["init_args"]["input_size"] == 386  # so400m-patch14-384's 27 x 27 grid, 2 px over
    tiny = {"trainer": {"default_root_dir": str(tmp_path)}, "model": {"scorer": {"init_args": {"input_size": 34}}}}  # the tiny 4 x 4 grid
    model = build_run(deep_merge(config, tiny)).model
    scorer = model.scorer.members[0]
    assert not scorer.loaded
    assert (scorer.input_size_setting, scorer.interpolation_setting, scorer.antialias_setting) == (34, "bilinear", False)
    assert scorer.dtype_name == "fp16" and scorer.aesthetic_dropout == (0.5, 0.5, 0.5, 0.2) and scorer.text_attention_mask is True
    assert model.scorer_precision == "none" and model.schedule_time_base == "steps"
    assert model.augment.jitter_reaches_zero is False and model.objective.prompt.arctanh_on == "batch_mean"
    assert model.objective.prompt.arctanh is True  # from das_base.yaml, kept


# ------------------------------------------------------------- the reference step
def warmup(t: int, T: int, start: float, end: float, r: float) -> float:
    """The published exponential warmup: (end - start)(1 - r)^(T - t) + start - (end - start)(1 - r)^T."""
    return (end - start) * (1 - r) ** (T - t) + start - (end - start) * (1 - r) ** T


def reference_step(model: DirectAscent, step: int, steps: int, rate: float, reverse: bool) -> tuple[torch.Tensor, list[torch.Tensor], dict]:
    """One DAS-AG v2 step from its formulas, with the run's frozen weights and random draws."""
    scorer = model.scorer.members[0]
    levels = [p.detach().clone().requires_grad_(True) for p in model.pyramid.levels]
    size, margin = model.pyramid.max_size, model.pyramid.max_shift
    # schedules at t / T, T = steps; the jitter is the warmup curve from the margin to 0, truncated
    noise = warmup(step, steps, 0.2, 0.5, 0.03)
    colour = warmup(step, steps, 0.05, 0.3, 0.03)
    jitter = int(warmup(step, steps, float(margin), 0.0, 0.03))
    lam_aes = (0.0 - 1.0) * (1 - rate) ** step + 1.0  # exponential_decay formula, start 0, end 1
    lam_aes = -lam_aes if reverse else lam_aes
    # render: mean of the bilinearly upsampled levels, tanh
    ups = [F.interpolate(lv, size=(size, size), mode="bilinear", align_corners=False) if lv.shape[-1] != size else lv for lv in levels]
    canvas = torch.tanh(torch.stack(ups).mean(0))
    # augment: roll each copy by its (dy, dx), colour x * exp(U) + U, add noise, crop the margin
    from dasag.image.augment import Strengths

    draws = model.augment.draw(1, size - 2 * margin, Strengths(jitter, colour, noise), step_generator(model.seed, step, "cpu"), "cpu")
    copies = []
    for k in range(model.augment.batch_size):
        dy, dx = (int(v) for v in draws.shifts[k])
        rolled = torch.roll(canvas[0], shifts=(dy, dx), dims=(1, 2))
        coloured = rolled[:, margin:-margin, margin:-margin] * draws.scale[k] + draws.offset[k]
        copies.append(coloured + draws.noise[k])
    batch = torch.stack(copies)
    # resize to the scorer's input: bilinear, no antialias; SigLIP's normalisation (0.5, 0.5) is the identity on [-1, 1]
    resized = F.interpolate(batch, size=(34, 34), mode="bilinear", align_corners=False, antialias=False)
    pooled = scorer.model.vision_model(pixel_values=resized.to(scorer.model_dtype)).pooler_output  # the weights' dtype, no autocast
    emb = F.normalize(pooled.float(), dim=-1)
    pos = (emb @ scorer.positive_emb.T).mean()  # the mean over copies and prompts, then arctanh
    neg = (emb @ scorer.negative_emb.T).mean()
    torch.manual_seed(dropout_seed(model.seed, step))  # the step's dropout masks, drawn in layer order
    h = emb
    for i, layer in enumerate(scorer.head.layers):
        h = layer(h)
        if i < 4:
            h = F.dropout(h, (0.5, 0.5, 0.5, 0.2)[i], training=True)
    aesthetic = h.squeeze(-1).mean()
    tv = torch.diff(resized, dim=2).abs().mean() + torch.diff(resized, dim=3).abs().mean()
    l1 = resized.abs().mean()
    loss = -lam_aes * aesthetic / 10 - 1.0 * (torch.atanh(pos) - torch.atanh(neg)) + 1e-8 * tv + 0.0 * l1
    loss.backward()
    return loss.detach(), [lv.grad for lv in levels], {"noise": noise, "colour": colour, "jitter": jitter, "lam": lam_aes}


@pytest.mark.parametrize(("method", "step"), [("das_ag", 3), ("das_rag_plus", 9)])
def test_overlay_step_matches_the_published_formulas(method, step, tiny_weights_env, tmp_path) -> None:
    """In fp32 weights, so float tolerance is meaningful (fp16 rounding is checked separately)."""
    model = compat_run(method, tmp_path, extra={"model": {"scorer": {"init_args": {"dtype": "fp32"}}}})
    steps = model.total_steps
    rate = {"das_ag": 0.02, "das_rag_plus": 0.06}[method]
    plan = ScheduleAnnealing.plan_at(model, step)
    want_loss, want_grads, want = reference_step(model, step, steps, rate, reverse=method.startswith("das_rag"))
    assert plan.strengths.jitter == want["jitter"]
    assert plan.strengths.noise == pytest.approx(want["noise"], abs=1e-12)
    assert plan.strengths.color_shift == pytest.approx(want["colour"], abs=1e-12)
    assert plan.aesthetic_weight == pytest.approx(want["lam"], abs=1e-12)
    loss = model.ascent_terms(plan).loss.sum()
    loss.backward()
    assert loss.item() == pytest.approx(want_loss.item(), rel=1e-5, abs=1e-6)
    for got, expected in zip((p.grad for p in model.pyramid.levels), want_grads):
        scale = expected.abs().max().item()
        assert (got - expected).abs().max().item() <= 1e-4 * scale, (got.shape, (got - expected).abs().max().item(), scale)
    if step == 9:  # the last step: the original's jitter stops short of 0, ours reaches it
        assert want["jitter"] == int(warmup(9, 10, 8.0, 0.0, 0.03)) > 0


def test_overlay_lr_is_cosine_over_t_over_T(tiny_weights_env, tmp_path) -> None:
    """torch's CosineAnnealingLR(T_max = steps, eta_min = 0.01 lr): lr_t = eta + (lr - eta)(1 + cos(pi t / T)) / 2."""
    model = compat_run("das", tmp_path)
    optimizer = model.configure_optimizers()["lr_scheduler"]["scheduler"]
    lrs = []
    for _ in range(10):
        lrs.append(optimizer.optimizer.param_groups[0]["lr"])
        optimizer.optimizer.step()
        optimizer.step()
    expected = [0.001 + (0.1 - 0.001) * (1 + math.cos(math.pi * t / 10)) / 2 for t in range(10)]
    assert lrs == pytest.approx(expected, rel=1e-12)
    ours = compat_run("das", tmp_path / "ours", overlay=False).configure_optimizers()["lr_scheduler"]["scheduler"]
    assert ours.schedule(9, 10) == pytest.approx(0.01)  # t / (T - 1): the end value on the last step


def test_dropout_is_seeded_per_step_and_leaves_the_callers_random_state_alone(tiny_weights_env, tmp_path) -> None:
    model = compat_run("das_ag", tmp_path)
    images = model.images()
    state = torch.get_rng_state()
    first = model.score(images, step=2)[0].scores.aesthetic
    assert torch.equal(torch.get_rng_state(), state)
    assert torch.equal(model.score(images, step=2)[0].scores.aesthetic, first)  # same step: same masks
    assert not torch.equal(model.score(images, step=3)[0].scores.aesthetic, first)  # another step: other masks
    clean = compat_run("das_ag", tmp_path / "clean", extra={"model": {"scorer": {"init_args": {"aesthetic_dropout": None}}}})
    assert not clean.scorer.stochastic and model.scorer.stochastic
    again = clean.score(images, step=2)[0].scores.aesthetic
    assert torch.equal(clean.score(images, step=3)[0].scores.aesthetic, again)  # no dropout: no randomness


def test_overlay_encodes_prompts_as_the_original_did(tiny_weights_env, tmp_path) -> None:
    """The original tokenised with padding to max_length (no truncation) and gave the tower the tokenizer's
    output whole; the tiny tokenizer returns a mask, so the overlay passes it and the corrected mode does not."""
    fp32 = {"model": {"scorer": {"init_args": {"dtype": "fp32"}}}}
    original_mode = compat_run("das", tmp_path, extra=fp32).scorer.members[0]
    corrected = compat_run("das", tmp_path / "corrected", overlay=False, extra=fp32).scorer.members[0]
    prompts = ["a photo of a goldfish", "blurred", "nsfw"]  # within the tiny tokenizer's 16 tokens
    inputs = original_mode.tokenizer(prompts, padding="max_length", return_tensors="pt")
    assert "attention_mask" in inputs and not inputs["attention_mask"].all()
    with torch.no_grad():
        want = F.normalize(original_mode.model.text_model(**inputs).pooler_output, dim=-1)
    original_mode.prepare(prompts, [])
    corrected.prepare(prompts, [])
    torch.testing.assert_close(original_mode.positive_emb, want, rtol=1e-5, atol=1e-6)
    assert (corrected.positive_emb - want).abs().max() > 1e-3  # the corrected mode leaves the mask out
    # One prompt over the limit: the original's call cannot even make the batch; both modes truncate it.
    long_prompt = "a photo of a goldfish in the rain, " * 3
    with pytest.raises(ValueError, match="Unable to create tensor"):
        original_mode.tokenizer(prompts + [long_prompt], padding="max_length", return_tensors="pt")
    with pytest.warns(UserWarning, match="truncated to its first 16 tokens"):
        original_mode.prepare([long_prompt], [])
    assert torch.isfinite(original_mode.positive_emb).all() and original_mode.positive_emb.shape == (1, 32)


def test_overlay_scorer_runs_fp16_without_autocast(tiny_weights_env, tmp_path) -> None:
    model = compat_run("das", tmp_path)
    scorer = model.scorer.members[0]
    assert scorer.model_dtype == torch.float16 and next(scorer.model.parameters()).dtype == torch.float16
    assert isinstance(model.autocast(), nullcontext)  # no autocast: the fp16 weights compute in fp16


@pytest.mark.parametrize(
    ("extra", "words"),
    [
        ({"model": {"scorer": {"init_args": {"input_size": 40}}}}, "scorer input_size 40 gives a 5x5 patch grid"),
        ({"model": {"scorer": {"init_args": {"aesthetic_dropout": [0.5, 1.5]}}}}, "aesthetic_dropout rates must be numbers in [0, 1)"),
        ({"model": {"schedule_time_base": "t/T"}}, "schedule_time_base"),
        ({"model": {"objective": {"init_args": {"arctanh_on": "batch"}}}}, "arctanh_on"),
        ({"model": {"scorer": {"init_args": {"interpolation": "lanczos"}}}}, "interpolation"),
    ],
)
def test_bad_compat_settings_are_one_sentence_before_weights_load(extra, words, tiny_weights_env, tmp_path) -> None:
    from dasag.core.errors import ConfigError

    with pytest.raises((ValueError, ConfigError)) as info:
        compat_run("das", tmp_path, extra=extra)
    message = str(info.value)
    assert words in message and "\n" not in message.strip()
