"""What the ImageNet classifier scorers share (:mod:`dasag.scorers.classifier`), on a tiny random classifier:
the three objectives, their argument checks, the ascent-only input sides and the readout a person reads."""

from __future__ import annotations

import math

import pytest
import torch
from torch import Tensor, nn

from dasag.scorers.base import Capabilities, Preprocessing
from dasag.scorers.classifier import ImageNetClassifier, check_objective, class_readout, class_scores
from dasag.scorers.imagenet import class_names


class TinyClassifier(ImageNetClassifier):
    """A random two-layer ImageNet classifier: the shared scorer with nothing of its own but a network."""

    name = "tiny"

    def __init__(self, **kw) -> None:
        args = {"input_size": None, "interpolation": None, "antialias": True, "score": "log_prob", "margin_cap": None,
                "drop_connect": 0.0, "input_sizes": None, "channels_last": False, **kw}
        super().__init__("tiny", **args)
        self.set_preprocessing(Preprocessing(size=32, mean=(0.5, 0.4, 0.3), std=(0.2, 0.25, 0.3), mode="bilinear"))
        self.sides: list[int] = []

    def _load(self) -> None:
        torch.manual_seed(0)
        self.body = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU())
        self.head = nn.Linear(8, 1000)

    def pooled(self, x: Tensor) -> Tensor:
        """The network's pooled features (recording the side it was shown)."""
        self.sides.append(x.shape[-1])
        return self.body(x).mean(dim=(2, 3))

    def _pooled(self, x: Tensor) -> Tensor:
        return self.pooled(x)

    def _logits(self, x: Tensor) -> Tensor:
        return self.head(self.pooled(x))

    def _pooled_and_logits(self, x: Tensor) -> tuple[Tensor, Tensor]:
        pooled = self.pooled(x)
        return pooled, self.head(pooled)


def _images(n: int = 2, side: int = 48) -> Tensor:
    return torch.rand(n, 3, side, side, generator=torch.Generator().manual_seed(1)) * 2 - 1


def test_each_objective_scores_the_target_classes_of_the_logits() -> None:
    images = _images()
    by = {}
    for score, cap in (("log_prob", None), ("logit", None), ("margin", 0.05)):
        scorer = TinyClassifier(score=score, margin_cap=cap)
        scorer.prepare(["goldfish", "1"], ["tench"])
        by[score] = scorer(images)
    logits = scorer.logits(images)
    assert scorer.capabilities == Capabilities(classifier=True) and not by["logit"].bounded
    torch.testing.assert_close(by["log_prob"].positive, logits.log_softmax(-1)[:, 1])  # "goldfish" and "1" are one class
    torch.testing.assert_close(by["log_prob"].negative, logits.log_softmax(-1)[:, 0])
    torch.testing.assert_close(by["logit"].positive, logits[:, 1])
    others = torch.cat([logits[:, :1], logits[:, 2:]], dim=1).max(dim=1).values
    torch.testing.assert_close(by["margin"].positive, (logits[:, 1] - others).clamp(max=0.05))
    torch.testing.assert_close(by["logit"].embedding, torch.nn.functional.normalize(scorer.pooled(scorer.preprocess(images)), dim=-1))
    torch.testing.assert_close(scorer.features(images), by["logit"].embedding)


def test_class_scores_margin_uses_the_runner_up_when_the_class_leads_and_stops_at_the_cap() -> None:
    logits = torch.tensor([[5.0, 1.0, 2.0], [0.0, 30.0, 1.0]], requires_grad=True)
    classes = torch.tensor([0, 2])
    got = class_scores(logits, classes, "margin", margin_cap=20.0)
    assert got.tolist() == [[3.0, -3.0], [-30.0, -29.0]]
    capped = class_scores(logits, torch.tensor([1]), "margin", margin_cap=20.0)
    assert capped[1, 0].item() == 20.0  # leads by 29: capped, and no gradient from it
    capped[1, 0].backward()
    assert logits.grad.abs().sum().item() == 0.0
    assert torch.equal(class_scores(logits, classes, "log_prob"), logits.log_softmax(-1)[:, [0, 2]])


@pytest.mark.parametrize(("args", "message"), [
    (("hinge", None, 0.0, None), "score must be 'log_prob', 'logit' or 'margin'; got 'hinge'"),
    (("margin", 0, 0.0, None), r"margin_cap must be a number in \(0, 1000\] \(logits\); got 0"),
    (("margin", 1e9, 0.0, None), r"margin_cap must be a number in \(0, 1000\]"),
    (("logit", 20.0, 0.0, None), "margin_cap applies only with score: margin .* got margin_cap 20.0 with score 'logit': remove margin_cap"),
    (("log_prob", 3, 0.0, None), "margin_cap applies only with score: margin"),
    (("logit", None, 1.0, None), "drop_connect must be a number from 0 up to"),
    (("logit", None, True, None), "drop_connect must be a number from 0 up to"),
    (("logit", None, 0.0, (16, 64)), r"input_sizes must be two whole sides \[lo, hi\]"),
    (("logit", None, 0.0, (300, 200)), r"input_sizes must be two whole sides \[lo, hi\]"),
    (("logit", None, 0.0, (100.5, 200)), r"input_sizes must be two whole sides \[lo, hi\]"),
])
def test_bad_objective_arguments_are_one_sentence(args, message) -> None:
    with pytest.raises(ValueError, match=message) as e:
        check_objective(*args)
    assert "\n" not in str(e.value) and str(e.value).endswith(".")


def test_the_margin_cap_defaults_to_20_and_is_kept_only_for_margin() -> None:
    check_objective("margin", None, 0.0, None)
    check_objective("margin", 5, 0.2, [64, 96])
    assert TinyClassifier(score="margin").margin_cap == 20.0 and TinyClassifier(score="margin", margin_cap=5).margin_cap == 5.0
    with pytest.raises(ValueError, match="input_size must be at least 32 px; got 16"):
        TinyClassifier(input_size=16)


def test_input_sizes_show_only_the_ascent_a_seeded_random_side() -> None:
    scorer = TinyClassifier(input_sizes=(40, 56))
    scorer.prepare(["goldfish"], [])
    assert scorer.stochastic and not TinyClassifier().stochastic
    images = _images()
    scorer(images)
    assert scorer.sides == [32]  # no gradient: the native side
    copies = images.clone().requires_grad_()
    torch.manual_seed(5)
    a = scorer(copies).positive
    torch.manual_seed(5)
    again = scorer(copies).positive
    for _ in range(6):
        scorer(copies)
    drawn = scorer.sides[1:]
    assert torch.equal(a, again) and drawn[0] == drawn[1] and all(40 <= s <= 56 for s in drawn) and len(set(drawn)) > 1


def test_channels_last_feeds_the_network_channels_last_with_the_same_scores() -> None:
    images = _images()
    plain, last = TinyClassifier(), TinyClassifier(channels_last=True)
    assert last.preprocess(images).is_contiguous(memory_format=torch.channels_last)
    assert not plain.preprocess(images).is_contiguous(memory_format=torch.channels_last)
    torch.testing.assert_close(last.logits(images), plain.logits(images))


def test_class_readout_gives_probabilities_a_person_reads() -> None:
    """p(class) is exp of the log-probability the scorer optimises; the top-5 is sorted and holds the best class."""
    scorer = TinyClassifier()
    scorer.prepare(["goldfish"], ["tench"])
    image = _images(1)
    readout = class_readout(scorer, image, ["goldfish"], ["tench"])
    log_p = float(scorer(image).positive[0])
    assert readout.positive[0][0] == "goldfish" and readout.positive[0][1] == pytest.approx(math.exp(log_p), rel=1e-4)
    assert readout.negative[0][0] == "tench" and readout.guided
    softmax = scorer.logits(image).softmax(dim=-1)[0]
    best = softmax.topk(5)
    assert [p for _, p in readout.top] == pytest.approx(best.values.tolist(), rel=1e-5)
    assert [n for n, _ in readout.top] == [class_names()[int(i)] for i in best.indices]
    assert readout.scorer == "tiny" and class_readout(scorer, image[0], ["goldfish"], name="tiny_1", guided=False).scorer == "tiny_1"


def test_class_prompts_are_checked_before_anything_loads() -> None:
    scorer = TinyClassifier()
    with pytest.raises(ValueError, match="unknown ImageNet class 'goldfsh'"):
        scorer.validate_prompts(["goldfsh"], [])
    with pytest.raises(ValueError, match="class index must be in 0..999; got 1000"):
        scorer.validate_prompts(["goldfish"], ["1000"])
    assert not scorer.loaded
