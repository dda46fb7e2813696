"""Weighted prompts: the syntax, the canonical prompt set, the loss it gives and the sentences for bad input."""

from __future__ import annotations

import pytest
import torch

from dasag.core.prompts import Prompt, parse_entry, parse_prompts
from dasag.image.picture import write_png
from dasag.objective.base import MemberScores, StepContext
from dasag.objective.loss import Objective
from dasag.run.callbacks import ScheduleAnnealing
from dasag.run.data import PromptDataModule, PromptSet
from dasag.scorers.base import Scores


def test_the_vqgan_clip_string_form():
    parsed = parse_prompts(["a castle | misty:0.5 | text:-1"])
    assert parsed.positive == (Prompt("a castle"), Prompt("misty", 0.5))
    assert parsed.negative == (Prompt("text", 1.0),)
    assert parse_entry("sunset: 2e-1", "x") == [Prompt("sunset", 0.2)]
    assert parse_entry("a photo: a cat", "x") == [Prompt("a photo: a cat")]  # a space after ':' is text
    assert parse_entry("16:9 frame", "x") == [Prompt("16:9 frame")]


def test_mappings_class_indices_image_prompts_and_zero_weights(tmp_path):
    parsed = parse_prompts([{"text": "ratio 16:9", "weight": 2}, 1, "image:ref.png:-0.5", "volcano:0"], [{"text": "blurry", "weight": 0.25}])
    assert parsed.positive == (Prompt("ratio 16:9", 2.0), Prompt("1"))
    assert parsed.negative == (Prompt("blurry", 0.25),)
    assert parsed.images == (Prompt("ref.png", -0.5, image=True),)


@pytest.mark.parametrize(
    ("positive", "negative", "message"),
    [
        (["castle:high"], [], "weight after the last ':' in 'castle:high' is not a number"),
        (["castle:"], [], "is not a number"),
        ([{"text": "castle", "weight": "lots"}], [], "a prompt weight must be a number from -1000 to 1000"),
        ([{"text": "castle", "weight": float("nan")}], [], "a prompt weight must be a number from -1000 to 1000"),
        ([{"text": "castle", "weight": 1e308}], [], r"a prompt weight must be a number from -1000 to 1000 \(e.g. 0.5 or -1\); got 1e\+308"),
        (["castle:1e308"], [], "a prompt weight must be a number from -1000 to 1000"),
        (["castle:-1001"], [], "a prompt weight must be a number from -1000 to 1000"),
        ([], ["blurry:1e300"], "a prompt weight must be a number from -1000 to 1000"),
        ([{"text": "castle", "size": 3}], [], "unknown keys \\['size'\\]; allowed: text, image, weight"),
        ([{"text": "castle", "image": "a.png"}], [], "exactly one of text or image"),
        (["castle | | sky"], [], "prompts must be non-empty"),
        ([], ["blurry:-1"], "in negative_prompts a weight is how hard"),
        ([True], [], "a prompt must be a text"),
    ],
)
def test_bad_prompts_are_one_sentence(positive, negative, message):
    with pytest.raises(ValueError, match=message):
        PromptSet.parse(positive, negative)


def test_the_canonical_set_equals_plain_prompts_and_keeps_weights(tmp_path):
    assert PromptSet.parse(["goldfish", "volcano:1"], ["blurry"]) == PromptSet(("goldfish", "volcano"), ("blurry",))
    weighted = PromptSet.parse(["goldfish:3 | volcano", "daisy:-0.5"])
    assert weighted.positive == ("goldfish", "volcano") and weighted.positive_weights == (3.0, 1.0)
    assert weighted.negative == ("daisy",) and weighted.negative_weights == (0.5,)
    assert weighted.strengths() == (2.0, 0.5)
    assert weighted.to_metadata() == {"positive": ["goldfish", "volcano"], "negative": ["daisy"], "positive_weights": [3.0, 1.0],
                                      "negative_weights": [0.5]}
    assert PromptSet.of(tuple(list(x) for x in weighted)) == weighted  # through the loader's collation
    with pytest.raises(ValueError, match="image prompt 'missing.png' is not a file"):
        PromptSet.parse(["image:missing.png"])
    ref = write_png(tmp_path / "ref.png", torch.zeros(3, 8, 8))
    assert PromptSet.parse([f"goldfish | image:{ref}:2"]).images == ((str(ref), 2.0),)


def test_the_datamodule_reads_weighted_entries_from_a_prompts_file(tmp_path):
    path = tmp_path / "prompts.yaml"
    path.write_text("positive_prompts:\n  - goldfish:2\n  - {text: volcano, weight: 0.5}\nnegative_prompts: [daisy]\n")
    dm = PromptDataModule(positive_prompts=["tench"], prompts_file=str(path))
    assert dm.prompts.positive == ("goldfish", "volcano", "tench") and dm.prompts.positive_weights == (2.0, 0.5, 1.0)
    path.write_text("positive_prompts: [goldfish:x1]\n")
    with pytest.raises(ValueError, match="prompts_file .* is not a number"):
        PromptDataModule(prompts_file=str(path))


def _context(positive, negative, strengths, bounded=False):
    scores = Scores(torch.tensor(positive), torch.tensor(negative), bounded=bounded)
    return StepContext([MemberScores("m", 1.0, scores)], torch.zeros(1, 3, 4, 4), 0, 10, scorer=None, prompt_strengths=strengths)


@pytest.mark.parametrize("arctanh_on", ["copy", "batch_mean"])
def test_side_strengths_scale_each_side_of_the_prompt_loss(arctanh_on):
    """Without arctanh the loss is -(w+ pos - w- neg); with it each side's arctanh is scaled."""
    plain = Objective(tv_weight=0.0)
    loss = plain(_context([0.4, 0.2], [0.1, 0.3], (2.0, 0.5))).loss
    torch.testing.assert_close(loss, torch.tensor([-(2.0 * 0.3 - 0.5 * 0.2)]))
    unweighted = plain(_context([0.4, 0.2], [0.1, 0.3], (1.0, 1.0))).loss
    torch.testing.assert_close(unweighted, torch.tensor([-(0.3 - 0.2)]))
    bounded = Objective(tv_weight=0.0, arctanh=True, arctanh_on=arctanh_on)
    one = bounded(_context([0.4, 0.4], [0.1, 0.1], (1.0, 1.0), bounded=True)).loss
    scaled = bounded(_context([0.4, 0.4], [0.1, 0.1], (3.0, 0.0), bounded=True)).loss
    torch.testing.assert_close(scaled, torch.tensor([-3.0 * torch.atanh(torch.tensor(0.4)).item()]))
    assert not torch.equal(one, scaled)


def _step_loss(prompts: PromptSet) -> tuple[torch.Tensor, dict]:
    from tiny_models import lite_module, ready

    module = ready(lite_module(objective=Objective(tv_weight=0.0)), prompts)
    terms = module.ascent_terms(ScheduleAnnealing.plan_at(module, 2))
    return terms.loss.detach(), terms.values


def test_weights_scale_the_loss_as_documented():
    """``goldfish:2`` pulls twice as hard as ``goldfish``; equal weights keep the mean of both prompts."""
    plain, _ = _step_loss(PromptSet.parse(["goldfish"]))
    doubled, _ = _step_loss(PromptSet.parse(["goldfish:2"]))
    torch.testing.assert_close(doubled, 2 * plain)
    pair, values = _step_loss(PromptSet.parse(["goldfish | volcano"]))
    heavy, heavy_values = _step_loss(PromptSet.parse(["goldfish:3 | volcano"]))
    goldfish, volcano = plain, _step_loss(PromptSet.parse(["volcano"]))[0]
    torch.testing.assert_close(pair, (goldfish + volcano) / 2)
    torch.testing.assert_close(heavy, (3 * goldfish + volcano) / 2)  # mean weight 2 x (0.75 goldfish + 0.25 volcano)
    torch.testing.assert_close(heavy_values["lite0/positive"], 0.75 * -goldfish + 0.25 * -volcano)


def test_an_image_prompt_adds_its_weighted_similarity(tmp_path):
    ref = write_png(tmp_path / "ref.png", torch.linspace(-1, 1, 3 * 32 * 32).view(3, 32, 32))
    plain, _ = _step_loss(PromptSet.parse(["goldfish"]))
    with_image, values = _step_loss(PromptSet.parse([f"goldfish | image:{ref}:0.5"]))
    similarity = values["image_prompt/0"]
    assert -1 <= float(similarity.detach()) <= 1
    torch.testing.assert_close(with_image, plain - 0.5 * similarity)
    alone, alone_values = _step_loss(PromptSet.parse([f"image:{ref}:-1"]))  # no text prompt: the picture alone guides (away)
    torch.testing.assert_close(alone, alone_values["image_prompt/0"])
