"""What every text-image scorer shares, whatever library its model comes from: the per-prompt
text-embedding cache, the prompt targets, and the :class:`~dasag.scorers.base.Scores` of one vision
pass (the similarities to the prompts, the aesthetic head's score and the embedding, all from the same
L2-normalised image embedding).

A subclass says how its library encodes new prompts (:meth:`TextImageScorer._encode_texts`) and an
image (:meth:`TextImageScorer.image_embedding`); the transformers scorers
(:mod:`dasag.scorers.hf_text_image`) and the open_clip one (:mod:`dasag.scorers.openclip`) differ in
nothing else here.
"""

from __future__ import annotations

import torch
from torch import Tensor

from dasag.scorers.aesthetic_head import AestheticHead
from dasag.scorers.base import Capabilities, Scorer, Scores


class TextImageScorer(Scorer):
    """A dual encoder: cosine similarity of the image embedding to cached prompt embeddings, plus an
    optional aesthetic head on the same embedding."""

    def __init__(self, capabilities: Capabilities, variant: str | None = None, input_size: int | None = None,
                 interpolation: str | None = None, antialias: bool = True) -> None:
        """Arguments as :class:`~dasag.scorers.base.Scorer`'s; the head is set by the subclass's ``_load``."""
        super().__init__(capabilities, variant=variant, input_size=input_size, interpolation=interpolation, antialias=antialias)
        self.head: AestheticHead | None = None
        self._text_cache: dict[str, Tensor] = {}

    @property
    def stochastic(self) -> bool:
        """An aesthetic head with dropout rates (the compatibility mode) makes every score random."""
        return self.head is not None and self.head.stochastic

    @property
    def embedding_dim(self) -> int:
        """Width of the image embedding (the aesthetic head's input)."""
        raise NotImplementedError

    # ------------------------------------------------------------------- prompts
    def _encode_texts(self, prompts: list[str]) -> Tensor:
        """Distinct new prompts -> their L2-normalised float32 embeddings (P, D), by the model's own tokenizer and text tower."""
        raise NotImplementedError

    def _embed_texts(self, prompts: list[str]) -> Tensor:
        """Normalised text embeddings (P, D), float32 on the scorer's device, from a per-prompt cache.

        Each distinct prompt goes through the text tower once per scorer: a new prompt set that shares
        prompts with an earlier one only encodes the new ones.
        """
        new = [p for p in dict.fromkeys(prompts) if p not in self._text_cache]
        if new:
            for p, e in zip(new, self._encode_texts(new)):
                self._text_cache[p] = e.detach().float().cpu()
        if not prompts:
            return torch.zeros(0, self.embedding_dim, device=self.device)
        return torch.stack([self._text_cache[p] for p in prompts]).to(self.device)

    def _prepare(self, positive: list[str], negative: list[str]) -> None:
        # One text-tower batch for the whole prompt set, then split.
        emb = self._embed_texts(positive + negative)
        self.register_buffer("positive_emb", emb[: len(positive)], persistent=False)
        self.register_buffer("negative_emb", emb[len(positive) :], persistent=False)

    # ------------------------------------------------------------------- scoring
    def image_embedding(self, images: Tensor) -> Tensor:
        """L2-normalised float32 image embeddings (N, D) for images in [-1, 1]."""
        raise NotImplementedError

    def _score(self, images: Tensor) -> Scores:
        embedding = self.image_embedding(images)  # one vision pass feeds similarity and aesthetics
        return Scores(
            positive=self.reduce_prompts(embedding @ self.positive_emb.to(embedding.dtype).T, "positive"),
            negative=self.reduce_prompts(embedding @ self.negative_emb.to(embedding.dtype).T, "negative"),
            bounded=True,
            aesthetic=self.head(embedding).float() if self.head is not None else None,
            embedding=embedding,
        )
