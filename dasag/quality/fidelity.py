"""How much each difference from DAS-AG v2 changes a step: the table in docs/fidelity.md.

    python reproduce/fidelity.py                          # print the table
    python reproduce/fidelity.py --write docs/fidelity.md  # and replace it in the document

Single-threaded (:func:`table`), so the figures are the same on every machine.

Every row switches one setting from our default to the original's and compares one ascent
step with the same weights, the same pyramid and the same random draws (both modules have
the same seed): the cosine between the two gradients of the pyramid and the ratio of their
norms, for the coarse levels (up to 64 px) and the finest one. The scorer is a randomly
initialised SigLIP with so400m's input geometry (384 px, 14 px patches) on a small tower
(:data:`~dasag.speed.random_siglip.VISION_SIZES` ``small``) plus a V2.5-shaped head, so it
runs on a CPU in about a minute; the real so400m's figures differ in size (its 27 layers
underflow more in fp16), not in kind. The step is the middle one of a 100-step run on the
768 px preset (1024 px canvas, 8 copies). Single-threaded, so the figures are the same on
every machine.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, replace
from pathlib import Path

import torch

from dasag.run.callbacks import ScheduleAnnealing

START = "<!-- fidelity-table:start (made by python reproduce/fidelity.py --write docs/fidelity.md) -->"
END = "<!-- fidelity-table:end -->"
STEP, STEPS = 50, 100


@dataclass
class Row:
    aspect: str
    original: str
    ours: str
    effect: str


@functools.cache
def _base_scorer():
    """The random SigLIP every variant copies, loaded once."""
    from dasag.speed.random_siglip import RandomSigLIP

    base = RandomSigLIP(size="small", aesthetic=True, attn_implementation="eager", dtype="fp32", seed=0)
    base.prepare(["a photorealistic illustration of a gigantic metallic Mona Lisa"], ["low-quality, blurred", "nsfw"])
    return base


def _scorer(dtype: torch.dtype = torch.float32, **changes):
    """A copy of the shared random SigLIP with one thing changed, so every variant has exactly
    the same weights (a fresh fp16 init would draw other values)."""
    scorer = copy.deepcopy(_base_scorer())
    if dtype != torch.float32:
        scorer.model.to(dtype)
        scorer.model_dtype = dtype
    if "input_size" in changes or "interpolation" in changes or "antialias" in changes:
        record = scorer.preprocessing
        scorer.preprocessing = replace(record, size=changes.get("input_size", record.size), mode=changes.get("interpolation", record.mode),
                                       antialias=changes.get("antialias", record.antialias))
    if "dropout" in changes:
        scorer.head.dropout = tuple(changes["dropout"])
    return scorer


def _module(scorer=None, augment: dict | None = None, objective: dict | None = None, **module_args):
    """A 768 px DirectAscent with the same pyramid initialisation and seed every time."""
    import lightning as L

    from dasag.image.augment import Augmentations
    from dasag.image.pyramid import ImagePyramid
    from dasag.objective.loss import Objective
    from dasag.run.data import PromptSet
    from dasag.run.module import DirectAscent

    torch.manual_seed(0)
    pyramid = ImagePyramid(max_size=1024, max_shift=128)
    model = DirectAscent(
        pyramid=pyramid, scorer=scorer or _scorer(), augment=Augmentations(**(augment or {})),
        objective=Objective(**{"arctanh": True, "aesthetic_weight": 0.5, **(objective or {})}), seed=0, **module_args,
    )
    model.trainer = L.Trainer(max_steps=STEPS, accelerator="cpu", logger=False, enable_checkpointing=False, enable_progress_bar=False,
                              enable_model_summary=False)
    model.use_prompts(PromptSet(*(tuple(p) for p in model.scorer.members[0].prompts)))
    return model


def _photograph(size: int) -> torch.Tensor:
    """The repository's photograph at ``size`` px in [-1, 1]: real image statistics for the regularisers."""
    from dasag.image.picture import load_image

    return load_image("assets/images/portrait.png", size)  # the shipped photograph


def _grads(model, step: int = STEP) -> list[torch.Tensor]:
    loss = model.ascent_terms(ScheduleAnnealing.plan_at(model, step)).loss.sum()
    loss.backward()
    grads = [p.grad.detach().clone().flatten() for p in model.pyramid.levels]
    model.pyramid.zero_grad(set_to_none=True)
    return grads


def _compare(a: list[torch.Tensor], b: list[torch.Tensor], sizes: Sequence[int]) -> str:
    """Cosine and norm ratio (b against a) for the coarse levels together and the finest one."""

    def cos_ratio(x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
        x, y = x.double(), y.double()
        return float(torch.nn.functional.cosine_similarity(x, y, dim=0)), float(y.norm() / x.norm())

    coarse = [i for i, s in enumerate(sizes) if s <= 64]
    c = cos_ratio(torch.cat([a[i] for i in coarse]), torch.cat([b[i] for i in coarse]))
    f = cos_ratio(a[-1], b[-1])
    return f"coarse levels: cosine {c[0]:.3f}, norm ×{c[1]:.2f}; finest: cosine {f[0]:.3f}, norm ×{f[1]:.2f}"


def measure() -> list[Row]:
    """Every row of the table, in its order; each group builds its modules from the same seed and weights."""
    ours = _module()
    sizes = ours.pyramid.sizes
    reference = _grads(ours)
    rows = _numerics_rows(reference, sizes)
    rows += _schedule_rows()
    rows.append(_regulariser_row())
    rows += _batch_rows(reference, sizes)
    rows += _aesthetic_and_png_rows(ours, sizes)
    rows += _prompt_rows()
    rows += _value_rows(ours, reference)
    return rows


def _numerics_rows(reference: list[torch.Tensor], sizes: Sequence[int]) -> list[Row]:
    """The scorer's precision and the resize to its input, against our default step."""
    rows: list[Row] = []
    # precision: fp16 weights computing in fp16, no autocast, no loss scaling; against fp32 (and bf16 autocast, our GPU default)
    fp16 = _grads(_module(_scorer(torch.float16), scorer_precision="none"))
    bf16 = _grads(_module(_scorer(), scorer_precision="bf16"))
    rows.append(Row("scorer precision", "fp16 weights, no autocast, no loss scaling", "bf16 autocast on a GPU (fp32 on a CPU)",
                    f"fp16 against fp32: {_compare(reference, fp16, sizes)}. bf16 autocast against fp32: {_compare(reference, bf16, sizes)}"))

    # the resize to the scorer's input
    resized = _grads(_module(_scorer(input_size=386, interpolation="bilinear", antialias=False)))
    only_alias = _grads(_module(_scorer(interpolation="bilinear", antialias=False)))
    rows.append(Row("resize to the scorer input", "386 px, bilinear, no antialias", "384 px, bicubic, antialias (the checkpoint's processor)",
                    f"{_compare(reference, resized, sizes)} (bilinear without antialias at 384 alone: {_compare(reference, only_alias, sizes)})"))
    return rows


def _schedule_rows() -> list[Row]:
    """The schedule time base and jitter's end: values of the schedules themselves, no step taken."""
    from dasag.core.schedules import Cosine, ExponentialWarmup

    rows: list[Row] = []
    # the schedule time base: values on the last step and the final lr
    last = STEPS - 1
    noise = ExponentialWarmup(start=0.2, end=0.5, rate=0.03)
    colour = ExponentialWarmup(start=0.05, end=0.3, rate=0.03)
    lr = Cosine(1.0, 0.01)
    n_o, n_u = noise(last, STEPS + 1), noise(last, STEPS)
    c_o, c_u = colour(last, STEPS + 1), colour(last, STEPS)
    rows.append(Row("schedule time base", "t / T, T = steps", "t / (T - 1): the last step is each schedule's end",
                    f"last step: noise {n_o:.4f} vs {n_u:.4f} ({n_u - n_o:+.4f}), colour shift {c_o:.4f} vs {c_u:.4f} ({c_u - c_o:+.4f}); "
                    f"final lr {0.1 * lr(last, STEPS + 1):.5f} vs {0.1 * lr(last, STEPS):.5f}"))

    # jitter's end
    j_o = int(ExponentialWarmup(start=128.0, end=0.0, rate=0.03)(last, STEPS + 1))
    j_u = int(ExponentialWarmup(start=128.0, end=0.0, rate=0.03, exact_end=True)(last, STEPS))
    rows.append(Row("jitter on the last step", "warmup formula, stops short", "rescaled to end at 0 (a documented fix)", f"{j_o} px vs {j_u} px"))
    return rows


def _regulariser_row() -> Row:
    """TV and L1 units: at one weight, how much stronger the sums over the clean image pull (gradient norms, on a photograph)."""
    strength = {}
    for term in ("tv", "l1"):
        norms = {}
        for units in ("original", "image_sum"):
            model = _module(objective={"prompt_weight": 0.0, "aesthetic_weight": 0.0, "tv_weight": float(term == "tv"),
                                       "l1_weight": float(term == "l1"), "regulariser_units": units})
            model.pyramid.set_image(_photograph(model.pyramid.visible_size))
            norms[units] = float(torch.cat(_grads(model)).norm())
        strength[term] = norms["image_sum"] / norms["original"]
    return Row("TV and L1 definition", "mean \\|Δ\\| and mean \\|x\\| over the augmented batch resized to the scorer input",
               "the same by default (`regulariser_units: original`); `image_sum`: sum of Δ² and of \\|x\\| over the clean image",
               f"at one weight, `image_sum` pulls ×{strength['tv']:.3g} (TV) and ×{strength['l1']:.3g} (L1) as hard "
               "(gradient norm on the pyramid; the photograph assets/images/portrait.png, 128 px upsampled to 768)")


def _batch_rows(reference: list[torch.Tensor], sizes: Sequence[int]) -> list[Row]:
    """How the batch of copies is scored: where arctanh goes, and one copy or eight with every augmentation off."""
    rows: list[Row] = []
    # arctanh placement
    per_batch = _grads(_module(objective={"arctanh_on": "batch_mean"}))
    s_lo, s_hi, m = 0.25, 0.35, 0.30
    rows.append(Row("arctanh", "of the batch-mean similarity", "per copy, then the mean (an expectation over augmentations)",
                    f"{_compare(reference, per_batch, sizes)}; at similarities 0.25-0.35 around a mean of 0.30 per-copy weighs "
                    f"copies ×{(1 - m * m) / (1 - s_lo * s_lo):.3f} to ×{(1 - m * m) / (1 - s_hi * s_hi):.3f}"))

    # every augmentation off: one copy or eight
    off = {"jitter_enabled": False, "color_shift_enabled": False, "noise_enabled": False}
    one, eight = _module(augment=off), _module(augment={**off, "single_copy_when_off": False})
    rows.append(Row("every augmentation off", "scores a batch of 1", "the same by default (`single_copy_when_off`)",
                    f"{eight.augment.copies} identical copies against {one.augment.copies}: {_compare(_grads(one), _grads(eight), sizes)}, "
                    f"at {eight.augment.copies}× the scorer's work"))
    return rows


def _aesthetic_and_png_rows(ours, sizes: Sequence[int]) -> list[Row]:
    """The aesthetic head's dropout and the 8-bit rounding, both measured on the photograph."""
    rows: list[Row] = []
    # the aesthetic head's dropout: the aesthetic term alone, with and without
    dropout = _scorer(dropout=(0.5, 0.5, 0.5, 0.2))
    image = _photograph(ours.pyramid.visible_size).unsqueeze(0)
    with torch.no_grad():
        clean_score = float(ours.scorer.members[0](image).aesthetic)
        torch.manual_seed(0)
        noisy = torch.stack([dropout(image).aesthetic for _ in range(64)]).float()
    aesthetic_only = {"prompt_weight": 0.0, "aesthetic_weight": 1.0}
    plain, masked = _grads(_module(objective=aesthetic_only)), _grads(_module(dropout, objective=aesthetic_only))
    rows.append(Row("aesthetic head dropout", "active (the head in train mode) while optimising and evaluating", "off (a documented fix)",
                    f"the photograph scores {clean_score:.3f} without; with: mean {float(noisy.mean()):.3f}, std {float(noisy.std()):.3f} over 64 masks; "
                    f"aesthetic gradient {_compare(plain, masked, sizes)}"))

    # PNG quantisation
    with torch.no_grad():
        x = (image[0] * 0.5 + 0.5).clamp(0, 1) * 255
        diff = (x.round() - x.floor()).mean()
    rows.append(Row("8-bit image", "x · 255 truncated (ToPILImage)", "rounded", f"mean {float(diff):.2f} levels brighter per channel"))
    return rows


# ------------------------------------------------------------------ the text side
#: google/siglip-so400m-patch14-384's text limit (its max_position_embeddings and tokenizer's model_max_length).
TEXT_LIMIT = 64
#: Prompt lengths in tokens, the closing EOS included: from a short prompt to one that fills the limit (no padding).
TEXT_LENGTHS = (4, 8, 16, 32, 48, 63, 64)
#: SigLIP's tokenizer ends a prompt with "</s>" and pads with the same token (its id in every SigLIP vocabulary).
EOS = 1


def text_tower(attention: str):
    """SigLIP's text tower with so400m's 64-token limit on a small random body (width 64, 2 layers),
    the same weights for every attention backend."""
    from transformers import SiglipTextModel

    from dasag.speed.random_siglip import VISION_SIZES, siglip_config

    text = {"num_hidden_layers": 2, "num_attention_heads": 4, "intermediate_size": 128, "vocab_size": 1000,
            "max_position_embeddings": TEXT_LIMIT, "pad_token_id": EOS, "eos_token_id": EOS, "bos_token_id": EOS}
    torch.manual_seed(0)
    config = siglip_config(VISION_SIZES["small"], text).text_config
    return SiglipTextModel._from_config(config, attn_implementation=attention, dtype=torch.float32).eval()


def tokenised_prompts(lengths: Sequence[int] = TEXT_LENGTHS) -> tuple[torch.Tensor, torch.Tensor]:
    """What SigLIP's tokenizer returns with ``padding="max_length"`` for prompts of these lengths:
    ids (random words, then EOS, then EOS as padding) and the mask of the prompt's own tokens."""
    g = torch.Generator().manual_seed(0)
    ids = torch.full((len(lengths), TEXT_LIMIT), EOS, dtype=torch.long)
    mask = torch.zeros(len(lengths), TEXT_LIMIT, dtype=torch.long)
    for row, n in enumerate(lengths):
        ids[row, : n - 1] = torch.randint(3, 1000, (n - 1,), generator=g)
        mask[row, :n] = 1
    return ids, mask


@contextmanager
def flash_attention_padding(tower, mask: torch.Tensor):
    """Run an eager tower as flash_attention_2 treats a padding mask: transformers unpads the batch,
    runs the variable-length kernel on the prompt's own tokens, and pads the result back with
    zeros, so a padded position's attention output is 0 in every layer (the kernel cannot run here:
    it needs flash-attn and a CUDA GPU). With the mask, eager already keeps real queries to real keys."""
    keep = mask[..., None]
    hooks = [layer.self_attn.out_proj.register_forward_pre_hook(lambda module, args: (args[0] * keep.to(args[0].dtype),))
             for layer in tower.encoder.layers]
    try:
        yield tower
    finally:
        for hook in hooks:
            hook.remove()


def text_embeddings(attention: str, masked: bool) -> torch.Tensor:
    """Unit text embeddings of :func:`tokenised_prompts` on one path: ``eager``, ``sdpa`` or
    ``flash_attention_2`` (its padding semantics, :func:`flash_attention_padding`)."""
    ids, mask = tokenised_prompts()
    tower = text_tower("eager" if attention == "flash_attention_2" else attention)
    inputs = {"input_ids": ids, **({"attention_mask": mask} if masked else {})}
    with torch.no_grad(), (flash_attention_padding(tower, mask) if attention == "flash_attention_2" and masked else nullcontext()):
        return torch.nn.functional.normalize(tower(**inputs).pooler_output, dim=-1)


def _prompt_rows() -> list[Row]:
    """The text side: the attention mask, a prompt over the token limit, and the prompt syntax."""
    rows: list[Row] = []
    plain = {a: text_embeddings(a, masked=False) for a in ("eager", "sdpa")}
    masked = {a: text_embeddings(a, masked=True) for a in ("eager", "sdpa", "flash_attention_2")}
    cosines = (plain["eager"] * masked["eager"]).sum(-1)
    agree = max(float((plain["eager"] - plain["sdpa"]).abs().max()), float((masked["eager"] - masked["sdpa"]).abs().max()))
    flash = masked["flash_attention_2"]
    short = [i for i, n in enumerate(TEXT_LENGTHS) if n < TEXT_LIMIT]
    spread = float((flash[short] - flash[short[0]]).abs().max())
    unmasked_spread = float((plain["eager"][short] @ plain["eager"][short].T).min())
    rows.append(Row(
        "text attention mask", "the tokenizer's output whole (`**inputs`): a mask where the tokenizer returns one; so400m's returns none",
        "none (`text_attention_mask: false`): SigLIP was trained without one; the compat overlay sets `true`",
        f"random text tower with so400m's {TEXT_LIMIT}-token limit: the mask turns a prompt's embedding to cosine "
        + ", ".join(f"{c:.2f}" for c in cosines.tolist()) + f" of the unmasked one at {', '.join(map(str, TEXT_LENGTHS))} tokens; "
        f"eager and sdpa differ by {_within(agree)} either way; under flash_attention_2's padding path every prompt under {TEXT_LIMIT} tokens "
        f"encodes to one vector (they differ by {_within(spread)}; unmasked, their cosines go down to {unmasked_spread:.2f}), so f(pos) - f(neg) is 0",
    ))

    # a prompt over the limit: the original pads to max_length without truncating, and the tower cannot read it
    over = TEXT_LIMIT + 6
    try:
        with torch.no_grad():
            text_tower("eager")(input_ids=torch.full((1, over), EOS, dtype=torch.long))
        stopped = "runs"
    except (ValueError, RuntimeError, IndexError) as e:
        stopped = f"stops with {type(e).__name__}"
    rows.append(Row("prompt over the token limit", "not truncated: the tower is given every token",
                    f"truncated to the first {TEXT_LIMIT} tokens, with a warning naming the prompt",
                    f"a {over}-token prompt: the original's text tower {stopped} (position table of {TEXT_LIMIT}); ours reads its first {TEXT_LIMIT}"))

    # the prompt syntax: what the weighted forms do to the published prompts and to a few others
    from dasag.core.config import CONFIGS
    from dasag.core.prompts import Prompt, parse_string
    from dasag.run.data import read_prompt_entries

    published = [p for side in read_prompt_entries(CONFIGS / "prompts" / "mona_lisa.yaml") for p in side]
    whole = sum(parse_string(p, "") == [Prompt(p)] for p in published)
    def read(text: str) -> str:
        parts = " + ".join(f"`{p.text}`" + (f" (weight {p.weight:g})" if p.weight != 1 else "") for p in parse_string(text, ""))
        return f"`{text}` -> ".replace("|", "\\|") + parts

    examples = "; ".join(read(text) for text in ("a castle | misty", "aspect ratio 16:9", "16:9 frame"))
    rows.append(Row("prompt syntax", "each string whole", "`\\|` separates prompts, a final `:number` is a weight; `{text: ...}` takes a string whole",
                    f"the published prompts: {whole} of {len(published)} read unchanged; {examples}"))
    return rows


def _value_rows(ours, reference: list[torch.Tensor]) -> list[Row]:
    """The arctanh clamp and the pixel renormalisation: where they could change a value, and by how much."""
    import csv

    from dasag.objective.builtin_terms import ARCTANH_LIMIT
    from dasag.quality.suites import REFERENCE

    rows: list[Row] = []
    with (REFERENCE / "das_ag_v2_stats.csv").open() as f:
        published = max(float(r["clip_score_mean"]) + 2 * float(r["clip_score_std"]) for r in csv.DictReader(f))
    slope = 1 / (1 - ARCTANH_LIMIT**2)
    half = float(torch.tensor(ARCTANH_LIMIT, dtype=torch.float16))
    rows.append(Row("arctanh clamp", "none: arctanh of the similarity as it is", "similarities clamped to ±(1 - 1e-4) first",
                    f"the published similarities reach {published:.2f} (largest mean + 2 std), where arctanh's slope is {1 / (1 - published**2):.2f}; "
                    f"the clamp acts only above {ARCTANH_LIMIT}, where the slope is {slope:.0f}, and in fp16 (the original's) {ARCTANH_LIMIT} is already "
                    f"{half:g}, whose arctanh is {float(torch.atanh(torch.tensor(half))):g}"))

    # pixels: ((x + 1) / 2 - mean) / std with SigLIP's 0.5 and 0.5 is x up to rounding
    scorer = ours.scorer.members[0]
    _, copies = ours.render_and_augment(ScheduleAnnealing.plan_at(ours, STEP))
    with torch.no_grad():
        x = scorer.resize_input(copies)
        renormalised = scorer.preprocess(copies)
    changed = float((renormalised != x).float().mean())
    changed_half = float((renormalised.half() != x.half()).float().mean())
    plain = _scorer()
    plain.preprocess = lambda images, side=None: plain.resize_input(images, side).to(plain.model_dtype)  # the pixels as they are
    identity = _grads(_module(plain))
    worst = max(float((a - b).abs().max() / a.abs().max()) for a, b in zip(reference, identity))
    rows.append(Row("pixel normalisation", "the [-1, 1] image as it is (mean 0.5, std 0.5 cancel out)", "((x + 1) / 2 - 0.5) / 0.5",
                    f"the step's input: {changed:.0%} of values differ, by at most {float((renormalised - x).abs().max()):.0e}; "
                    f"after rounding to fp16 (the compat mode's weights) {changed_half:.2%} still do; the step's gradient changes by {_within(worst, 1e-5)} "
                    "of a level's largest entry"))
    return rows


def _within(difference: float, bound: float = 1e-6) -> str:
    """A float-rounding-sized difference as a bound: its last digits vary with the memory layout of
    the matrix products, and the table must regenerate byte for byte."""
    return f"less than {bound:.0e}".replace("e-0", "e-") if difference < bound else f"up to {difference:.1e}"


def markdown(rows: list[Row]) -> str:
    lines = [START, "", "| aspect | original | dasag default | measured (this script) |", "|---|---|---|---|"]
    lines += [f"| {r.aspect} | {r.original} | {r.ours} | {r.effect} |" for r in rows]
    return "\n".join(lines + ["", END])


def write(path: Path, table: str) -> None:
    """Replace the marked table in ``path`` (its text outside the markers is kept)."""
    from dasag.core.files import write_bytes_atomic

    text = path.read_text()
    if START not in text or END not in text:
        raise ValueError(f"{path} has no fidelity table markers ({START!r} ... {END!r}) to replace.")
    head, rest = text.split(START, 1)
    tail = rest.split(END, 1)[1]
    write_bytes_atomic(path, (head + table + tail).encode())


def table() -> str:
    """The fidelity table, measured on one CPU thread (figures independent of the machine's core count)."""
    from dasag.core.process import threads

    with threads(1):
        return markdown(measure())
