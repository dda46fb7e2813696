"""SigLIP with random weights: the cost of the DAS-AG v2 scorer without its weights.

The cost of a step does not depend on the weights' values, so a randomly initialised
so400m vision tower times exactly like ``google/siglip-so400m-patch14-384``. The shapes
live here once (:data:`VISION_SIZES`, :func:`siglip_config`); the tests' tiny checkpoints
are built from the same function.
"""

from __future__ import annotations

import hashlib
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import Tensor

from dasag.scorers.aesthetic_head import AestheticHead
from dasag.scorers.base import Preprocessing
from dasag.scorers.hf_text_image import Attention, Dtype, choose_attention, resolve_dtype
from dasag.scorers.siglip import SigLIP

#: Vision tower of google/siglip-so400m-patch14-384 (its config.json), and a tiny one for tests.
VISION_SIZES: dict[str, dict[str, int]] = {
    "so400m": {"hidden_size": 1152, "intermediate_size": 4304, "num_hidden_layers": 27, "num_attention_heads": 16, "patch_size": 14, "image_size": 384},
    # so400m's input geometry (384 px, 14 px patches: 27 x 27 tokens) on a narrow, shallow tower:
    # what resizing to 384 or 386 and the head do, measured on CPU in seconds (reproduce/fidelity.py).
    "small": {"hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4, "patch_size": 14, "image_size": 384},
    "tiny": {"hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 4, "num_attention_heads": 2, "patch_size": 8, "image_size": 32},
}


def siglip_config(vision: dict[str, int], text: dict[str, Any] | None = None) -> Any:
    """A ``SiglipConfig`` with this vision tower and a small text tower (one layer unless ``text`` says more).

    Prompts are encoded once per run and cached, so the text tower's size never enters a
    step's cost; its width must match the vision tower's for the similarities.
    """
    from transformers import SiglipConfig

    width = vision["hidden_size"]
    tower = {"hidden_size": width, "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 1,
             "vocab_size": 64, "max_position_embeddings": 16, "projection_size": width, **(text or {})}
    return SiglipConfig(text_config=tower, vision_config=vision)


class RandomSigLIP(SigLIP):
    """SigLIP + an Aesthetic-Predictor-shaped head, randomly initialised, for the speed bench.

    Prompt embeddings are fixed random unit vectors derived from the prompt text.
    """

    name = "siglip_random"

    def __init__(
        self,
        size: Literal["so400m", "small", "tiny"] = "so400m",
        aesthetic: bool = True,
        attn_implementation: Attention = "auto",
        dtype: Dtype = "auto",
        seed: int = 0,
        input_size: int | None = None,
        interpolation: Literal["bilinear", "bicubic", "nearest"] | None = None,
        antialias: bool = True,
        aesthetic_dropout: list[float] | None = None,
    ) -> None:
        """
        Args:
            size: ``so400m`` (the DAS-AG v2 vision tower), ``small`` (its input geometry on a small
                tower) or ``tiny`` (for tests).
            aesthetic: add a V2.5-shaped head (width -> 1024 -> 128 -> 64 -> 16 -> 1).
            attn_implementation: as for :class:`~dasag.scorers.SigLIP`.
            dtype: model weights dtype, as for :class:`~dasag.scorers.SigLIP`.
            seed: initialisation seed.
            input_size / interpolation / antialias / aesthetic_dropout: as for :class:`~dasag.scorers.SigLIP`.
        """
        if size not in VISION_SIZES:
            raise ValueError(f"RandomSigLIP size must be one of {', '.join(VISION_SIZES)}; got {size!r}.")
        super().__init__(model=f"random:{size}", aesthetic_head=None, aesthetic=False, attn_implementation=attn_implementation, dtype=dtype,
                         input_size=input_size, interpolation=interpolation, antialias=antialias, aesthetic_dropout=aesthetic_dropout)
        self.size = size
        self.with_head = aesthetic
        self.seed = seed
        self.capabilities = self.capabilities.with_aesthetic(aesthetic)

    def check_weights(self) -> None:
        """Nothing to find on disk."""

    def _load(self) -> None:
        from transformers import SiglipModel

        vision = VISION_SIZES[self.size]
        dtype = resolve_dtype(self.dtype_name)
        attention = choose_attention(self.attn_implementation, SiglipModel, dtype)
        torch.manual_seed(self.seed)
        self.model = SiglipModel._from_config(siglip_config(vision), attn_implementation=attention, dtype=dtype).eval()
        self.attention, self.model_dtype = attention, dtype
        self.check_input_size(vision["image_size"], vision["patch_size"])
        self.set_preprocessing(Preprocessing(size=vision["image_size"], mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), mode="bicubic"))
        if self.with_head:
            self.head = AestheticHead([vision["hidden_size"], 1024, 128, 64, 16, 1], self.aesthetic_dropout)  # fp32, like a loaded head

    def _embed_texts(self, prompts: list[str]) -> Tensor:
        width = VISION_SIZES[self.size]["hidden_size"]
        rows = []
        for p in prompts:
            g = torch.Generator().manual_seed(int.from_bytes(hashlib.sha256(p.encode()).digest()[:7], "big"))
            rows.append(torch.randn(width, generator=g))
        emb = torch.stack(rows) if rows else torch.zeros(0, width)
        return F.normalize(emb, dim=-1).to(self.device)
