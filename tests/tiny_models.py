"""Tiny randomly initialised SigLIP / CLIP checkpoints and aesthetic heads, built on the fly.

No model hub is reachable in CI, so the real loading path (``from_pretrained`` on a local
directory, the tokenizer files, ``preprocessor_config.json``, ``torch.load`` of a head) is
exercised on checkpoints that have the real layout and a tiny size. Tokenizers are trained
here too: a SentencePiece model for SigLIP and a byte-level BPE for CLIP, so the tokenizer
classes load exactly the files a real checkpoint ships.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from dasag.run.callbacks import ScheduleAnnealing
from dasag.run.data import PromptSet
from dasag.speed.random_siglip import VISION_SIZES, siglip_config

if TYPE_CHECKING:
    from dasag import DirectAscent

# A short corpus in the register of the prompts; enough for a ~100-piece vocabulary.
CORPUS: tuple[str, ...] = (
    'A photorealistic illustration of "a gigantic metallic Mona Lisa in red pajama attacking the city"',
    "dynamic camera angle, fine-grained details",
    "text present, low-quality, low-resolution, blurred, noisy, distorted, pixelated, artifact present",
    "without depth, flat, boring, uninteresting, unattractive, unappealing, unclear",
    "a photo of a goldfish", "a painting of a cat", "a drawing of a dog in the rain",
    "the quick brown fox jumps over the lazy dog", "portrait, landscape, sky, sea, mountain",
)

#: Token limit of the tiny text towers: short, so that truncation is easy to trigger.
TEXT_MAX_LENGTH = 16
#: Embedding width of both tiny models, hence the input width of the tiny heads.
EMBED_DIM = 32
#: Input side of the tiny vision towers (patch 8 -> 4x4 patches).
IMAGE_SIZE = 32


def _tower(hidden: int = EMBED_DIM, layers: int = 2, heads: int = 2) -> dict:
    return {"hidden_size": hidden, "intermediate_size": 2 * hidden, "num_hidden_layers": layers, "num_attention_heads": heads}


def _sentencepiece_model(directory: Path) -> Path:
    """Train a tiny unigram SentencePiece model with SigLIP's special tokens."""
    import sentencepiece as spm

    prefix = directory / "spiece"
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(CORPUS * 4),
        model_prefix=str(prefix),
        vocab_size=100,
        hard_vocab_limit=False,
        model_type="unigram",
        character_coverage=1.0,
        pad_id=0, eos_id=1, unk_id=2, bos_id=-1,
        pad_piece="<pad>", eos_piece="</s>", unk_piece="<unk>",
        minloglevel=2,
    )
    return prefix.with_suffix(".model")


#: The so400m-patch14-384 vision tower (DAS-AG v2's scorer): same shape and cost as the real weights.
SO400M_VISION: dict[str, int] = VISION_SIZES["so400m"]


def build_tiny_siglip(directory: str | Path, seed: int = 0, vision: dict[str, int] | None = None) -> Path:
    """Save a random ``SiglipModel`` + ``SiglipTokenizer`` + preprocessor config into ``directory``.

    Tiny by default; ``vision=SO400M_VISION`` gives the full-size vision tower (the text tower
    stays tiny: prompts are encoded once per run, so it never enters a step's cost).
    """
    from transformers import SiglipModel, SiglipTokenizer

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tokenizer = SiglipTokenizer(vocab_file=str(_sentencepiece_model(directory)), model_max_length=TEXT_MAX_LENGTH)
    vision = vision or {**_tower(), "image_size": IMAGE_SIZE, "patch_size": 8}
    text = {**_tower(), "vocab_size": len(tokenizer), "max_position_embeddings": TEXT_MAX_LENGTH,
            "projection_size": vision["hidden_size"], "pad_token_id": tokenizer.pad_token_id, "eos_token_id": tokenizer.eos_token_id,
            "bos_token_id": tokenizer.eos_token_id}
    torch.manual_seed(seed)
    model = SiglipModel(siglip_config(vision, text))
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    _preprocessor(directory, "SiglipImageProcessor", [0.5, 0.5, 0.5], [0.5, 0.5, 0.5], resample=3)
    return directory


def _bpe_vocab_and_merges() -> tuple[dict[str, int], list[tuple[str, str]]]:
    """Train a byte-level BPE shaped like CLIP's (``</w>`` word suffix, lower-cased words)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    bpe = Tokenizer(models.BPE(end_of_word_suffix="</w>"))
    bpe.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Whitespace(), pre_tokenizers.ByteLevel(add_prefix_space=False)])
    alphabet = pre_tokenizers.ByteLevel.alphabet()
    trainer = trainers.BpeTrainer(
        vocab_size=len(alphabet) * 2 + 80,
        special_tokens=["<|startoftext|>", "<|endoftext|>"],
        initial_alphabet=alphabet,
        end_of_word_suffix="</w>",
        show_progress=False,
    )
    bpe.train_from_iterator([c.lower() for c in CORPUS], trainer)
    state = json.loads(bpe.to_str())["model"]
    vocab: dict[str, int] = dict(state["vocab"])
    for ch in alphabet:  # every byte must also exist as a word end, as in CLIP's vocabulary
        vocab.setdefault(ch + "</w>", len(vocab))
    merges = [tuple(m.split(" ")) if isinstance(m, str) else tuple(m) for m in state["merges"]]
    return vocab, merges


def build_tiny_clip(directory: str | Path, seed: int = 0) -> Path:
    """Save a tiny random ``CLIPModel`` + ``CLIPTokenizer`` + preprocessor config into ``directory``."""
    from transformers import CLIPConfig, CLIPModel, CLIPTokenizer

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    vocab, merges = _bpe_vocab_and_merges()
    tokenizer = CLIPTokenizer(vocab=vocab, merges=merges, model_max_length=TEXT_MAX_LENGTH)
    text = {**_tower(), "vocab_size": len(vocab), "max_position_embeddings": TEXT_MAX_LENGTH,
            "bos_token_id": tokenizer.bos_token_id, "eos_token_id": tokenizer.eos_token_id, "pad_token_id": tokenizer.pad_token_id}
    vision = {**_tower(), "image_size": IMAGE_SIZE, "patch_size": 8}
    torch.manual_seed(seed)
    model = CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=EMBED_DIM))
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    _preprocessor(directory, "CLIPImageProcessor", [0.48145466, 0.4578275, 0.40821073], [0.26862954, 0.26130258, 0.27577711], resample=3)
    return directory


#: The tiny SigLIP 2 NaFlex tower reads at most 16 patches of 4 px: a square picture becomes 4 x 4 patches (16 px).
NAFLEX_PATCH, NAFLEX_MAX_PATCHES = 4, 16


def build_tiny_siglip2_naflex(directory: str | Path, seed: int = 0) -> Path:
    """Save a tiny random ``Siglip2Model`` (NaFlex: variable resolution) + ``Siglip2Tokenizer`` (Gemma-style
    BPE with SigLIP 2's lower-casing) + its image processor config into ``directory``."""
    from transformers import Siglip2Config, Siglip2Model, Siglip2Tokenizer

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    vocab, merges = _bpe_vocab_and_merges()
    specials = {"<pad>": 0, "<eos>": 1, "<bos>": 2, "<unk>": 3, "<mask>": 4}
    vocab = {**specials, **{t: i + len(specials) for i, t in enumerate(t for t in vocab if t not in specials)}}
    tokenizer = Siglip2Tokenizer(vocab=vocab, merges=[tuple(m) for m in merges], model_max_length=TEXT_MAX_LENGTH)
    text = {**_tower(), "vocab_size": len(vocab), "max_position_embeddings": TEXT_MAX_LENGTH, "pad_token_id": 0, "eos_token_id": 1, "bos_token_id": 2}
    vision = {**_tower(), "patch_size": NAFLEX_PATCH, "num_patches": NAFLEX_MAX_PATCHES}
    torch.manual_seed(seed)
    model = Siglip2Model(Siglip2Config(text_config=text, vision_config=vision))
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    config = {"image_processor_type": "Siglip2ImageProcessorFast", "image_mean": [0.5] * 3, "image_std": [0.5] * 3, "resample": 2,
              "patch_size": NAFLEX_PATCH, "max_num_patches": NAFLEX_MAX_PATCHES, "do_normalize": True, "do_resize": True,
              "do_rescale": True, "rescale_factor": 1 / 255}
    (directory / "preprocessor_config.json").write_text(json.dumps(config, indent=2))
    return directory


def _preprocessor(directory: Path, cls: str, mean: list[float], std: list[float], resample: int) -> None:
    config = {"image_processor_type": cls, "image_mean": mean, "image_std": std, "resample": resample,
              "size": {"height": IMAGE_SIZE, "width": IMAGE_SIZE}, "do_normalize": True, "do_resize": True,
              "do_rescale": True, "rescale_factor": 1 / 255}
    (directory / "preprocessor_config.json").write_text(json.dumps(config, indent=2))


def _head_state(prefix: str, linear_indices: tuple[int, ...], in_dim: int, seed: int) -> dict[str, torch.Tensor]:
    widths = (in_dim, 1024, 128, 64, 16, 1)
    g = torch.Generator().manual_seed(seed)
    state = {}
    for idx, (a, b) in zip(linear_indices, zip(widths[:-1], widths[1:])):
        state[f"{prefix}.{idx}.weight"] = torch.randn(b, a, generator=g) / a**0.5
        state[f"{prefix}.{idx}.bias"] = torch.randn(b, generator=g) * 0.1
    # Centre the output near the real heads' range (~5 on a 1..10 scale) and give it the real
    # heads' sensitivity: a few points between images, not hundredths.
    state[f"{prefix}.{linear_indices[-1]}.weight"] *= 20.0
    state[f"{prefix}.{linear_indices[-1]}.bias"] += 5.0
    return state


def build_tiny_v25_head(path: str | Path, in_dim: int = EMBED_DIM, seed: int = 0) -> Path:
    """A random head with Aesthetic Predictor V2.5's state-dict keys (``scoring_head.{0,2,4,6,8}``)."""
    path = Path(path)
    torch.save(_head_state("scoring_head", (0, 2, 4, 6, 8), in_dim, seed), path)
    return path


def build_tiny_laion_head(path: str | Path, in_dim: int = EMBED_DIM, seed: int = 0) -> Path:
    """A random head with the LAION improved aesthetic predictor's keys (``layers.{0,2,4,6,7}``)."""
    path = Path(path)
    torch.save(_head_state("layers", (0, 2, 4, 6, 7), in_dim, seed), path)
    return path


# ---------------------------------------------------------------- tiny modules (no Trainer)
#: A text prompt set for the random SigLIP (its embeddings are fixed random vectors).
PROMPTS = PromptSet(("a photo of a goldfish",), ("blurred",))


def siglip_module(batch: int = 2, **kwargs) -> DirectAscent:
    """Two images on a 32 px canvas scored by a 4-layer random SigLIP with an aesthetic head."""
    from dasag import Augmentations, DirectAscent, ImagePyramid, Objective
    from dasag.speed.random_siglip import RandomSigLIP

    scorer_args = {k: kwargs.pop(k) for k in ("attn_implementation", "dtype") if k in kwargs}
    torch.manual_seed(0)
    return DirectAscent(
        pyramid=ImagePyramid(max_size=32, max_shift=4, num_images=2),
        scorer=RandomSigLIP(size="tiny", **{"attn_implementation": "eager", "dtype": "fp32", **scorer_args}),
        augment=Augmentations(batch_size=batch),
        objective=Objective(arctanh=True, aesthetic_weight=0.5),
        seed=0,
        **kwargs,
    )


def lite_module(**kwargs) -> DirectAscent:
    """One image on a 64 px canvas scored by EfficientNet-Lite0 (real weights) at 64 px."""
    from dasag import Augmentations, DirectAscent, ImagePyramid
    from dasag.scorers import EfficientNetLite

    scorer_args = {k: kwargs.pop(k) for k in ("channels_last",) if k in kwargs}
    torch.manual_seed(0)
    return DirectAscent(
        pyramid=ImagePyramid(max_size=64, max_shift=8), scorer=EfficientNetLite("lite0", input_size=64, **scorer_args),
        augment=Augmentations(batch_size=2), seed=0, **kwargs,
    )


def ready(module: DirectAscent, prompts=PROMPTS, max_steps: int = 10) -> DirectAscent:
    """A module prepared for steps outside ``fit``: attached to a Trainer that gives the run's length."""
    import lightning as L

    module.trainer = L.Trainer(max_steps=max_steps, accelerator="cpu", logger=False, enable_checkpointing=False,
                               enable_progress_bar=False, enable_model_summary=False)
    module.use_prompts(prompts)
    return module


def loss_and_grads(module: DirectAscent, prompts=PROMPTS, step: int = 3) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """One step's loss and pyramid gradients, without a Trainer."""
    ready(module, prompts)
    loss = module.ascent_terms(ScheduleAnnealing.plan_at(module, step)).loss.sum()
    loss.backward()
    grads = [p.grad.detach().clone() for p in module.pyramid.parameters()]
    module.pyramid.zero_grad(set_to_none=True)
    return loss.detach(), grads
