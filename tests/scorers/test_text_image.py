"""What every text-image scorer shares: the per-prompt embedding cache, the prompt targets and the
scores of one vision pass, checked on a toy dual encoder (no model library needed)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from dasag.scorers.aesthetic_head import AestheticHead
from dasag.scorers.base import Capabilities, Preprocessing
from dasag.scorers.text_image import TextImageScorer


class ToyDualEncoder(TextImageScorer):
    """Text: a fixed random vector per prompt; image: the mean colour through a fixed projection."""

    name = "toy"

    def __init__(self, head: bool = False) -> None:
        super().__init__(Capabilities(classifier=False, aesthetic=head))
        self.with_head = head
        self.encoded: list[list[str]] = []

    @property
    def embedding_dim(self) -> int:
        return 4

    def _load(self) -> None:
        self.set_preprocessing(Preprocessing(size=8))
        self.projection = torch.nn.Linear(3, 4)
        if self.with_head:
            self.head = AestheticHead([4, 2, 1])

    def _encode_texts(self, prompts: list[str]) -> Tensor:
        self.encoded.append(list(prompts))
        rows = [torch.randn(4, generator=torch.Generator().manual_seed(sum(map(ord, p)))) for p in prompts]
        return F.normalize(torch.stack(rows), dim=-1)

    def image_embedding(self, images: Tensor) -> Tensor:
        self.load()
        return F.normalize(self.projection(self.preprocess(images).mean(dim=(2, 3))), dim=-1)


def test_each_distinct_prompt_is_encoded_once_per_scorer():
    scorer = ToyDualEncoder()
    scorer.prepare(["a", "b", "a"], ["c"])
    scorer.prepare(["b", "d"], ["c"])
    assert scorer.encoded == [["a", "b", "c"], ["d"]]
    assert scorer.positive_emb.shape == (2, 4) and scorer.negative_emb.shape == (1, 4)


def test_no_negative_prompts_give_an_empty_target_and_a_zero_score():
    scorer = ToyDualEncoder()
    scorer.prepare(["a"], [])
    scores = scorer(torch.zeros(2, 3, 16, 16))
    assert scorer.negative_emb.shape == (0, 4) and torch.equal(scores.negative, torch.zeros(2))


def test_scores_come_from_one_embedding_with_the_head_on_it_and_reach_the_picture():
    scorer = ToyDualEncoder(head=True)
    scorer.prepare(["a", "b"], ["c"])
    images = (torch.rand(3, 3, 16, 16) * 2 - 1).requires_grad_(True)
    scores = scorer(images)
    assert scores.bounded and torch.allclose(scores.positive, (scores.embedding @ scorer.positive_emb.T).mean(dim=1))
    assert torch.allclose(scores.negative, (scores.embedding @ scorer.negative_emb.T)[:, 0])
    assert torch.allclose(scores.aesthetic, scorer.head(scores.embedding)) and not scorer.stochastic
    (scores.positive + scores.aesthetic).sum().backward()
    assert images.grad is not None and images.grad.abs().sum() > 0


def test_a_head_with_dropout_makes_the_scorer_stochastic():
    scorer = ToyDualEncoder()
    scorer.load()
    assert not scorer.stochastic
    scorer.head = AestheticHead([4, 2, 1], dropout=[0.5])
    assert scorer.stochastic
