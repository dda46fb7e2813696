"""Value-guided candidates (SVDD-style) against their best-of-K baseline, rewards without gradients."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import pytest
import torch

from dasag import Augmentations, DirectAscent, ImagePyramid
from dasag.run.rewards import JpegCompressibility
from dasag.run.value_guidance import BestOfK, ValueGuidance, copy_candidates, mutate_duplicates, resample_indices
from feature_helpers import SMALL, lite0, run


# ------------------------------------------------------------ value guidance
def test_resample_indices_and_candidate_copy() -> None:
    rewards = torch.tensor([0.0, 3.0, 1.0, 2.0])
    assert resample_indices(rewards, 0.0).tolist() == [1, 1, 1, 1]
    g = torch.Generator().manual_seed(0)
    assert resample_indices(rewards, 0.01, g).tolist() == [1, 1, 1, 1]  # near-greedy
    draws = resample_indices(rewards, 1e6, torch.Generator().manual_seed(0))
    assert draws.unique().numel() > 1  # large alpha keeps diversity
    pyramid = ImagePyramid(max_size=8, max_shift=0, num_images=3)
    opt = torch.optim.Adam(pyramid.parameters())
    pyramid().sum().backward()
    opt.step()
    level, state = pyramid.levels[-1], opt.state[pyramid.levels[-1]]
    before = level.detach().clone(), state["exp_avg"].clone()
    copy_candidates(pyramid, opt, torch.tensor([2, 2, 0]))
    for now, was in ((level.detach(), before[0]), (state["exp_avg"], before[1])):
        assert torch.equal(now[0], was[2]) and torch.equal(now[1], was[2]) and torch.equal(now[2], was[0])


def test_mutation_spares_the_first_copy_of_each_parent() -> None:
    pyramid = ImagePyramid(max_size=8, max_shift=0, num_images=4)
    before = [p.detach().clone() for p in pyramid.parameters()]
    mutate_duplicates(pyramid, torch.tensor([1, 1, 3, 1]), 1.0, torch.Generator().manual_seed(0))
    for now, was in zip(pyramid.parameters(), before):
        assert torch.equal(now[0], was[0]) and torch.equal(now[2], was[2])  # first copies: exact
        assert not torch.equal(now[1], was[1]) and not torch.equal(now[3], was[3])  # extra copies: moved


@pytest.mark.slow
def test_value_guidance_arguments_are_checked(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="alpha must be >= 0"):
        ValueGuidance(JpegCompressibility(), alpha=-1.0)
    with pytest.raises(ValueError, match="mutation"):
        ValueGuidance(JpegCompressibility(), mutation=-0.5)
    with pytest.raises(ValueError, match="every_n_steps"):
        ValueGuidance(JpegCompressibility(), every_n_steps=0)
    with pytest.raises(ValueError, match="quality"):
        JpegCompressibility(quality=100)
    model = DirectAscent(ImagePyramid(**SMALL), lite0(), augment=Augmentations(batch_size=2))
    with pytest.raises(ValueError, match="num_images to K >= 2"):
        run(model, 1, positive=["goldfish"], root=tmp_path, callbacks=[BestOfK(JpegCompressibility())])


@pytest.mark.slow
def test_value_guidance_beats_best_of_k_on_jpeg_size(tmp_path: Path) -> None:
    """Same seeds, K and steps: value-guided selection ends with a smaller best JPEG.

    Measured margins (kB, baseline minus guided) for seeds 0..3: 0.20, 0.18, 0.08, 0.23 of
    1.3-1.6 kB (remade by ``python examples/make_feature_images.py``). Without mutation the
    copies barely diverge and selection only finds the lineage best-of-K also finds (margins
    of -0.02 to 0.00 kB for the same seeds: no gain).
    """

    def best_kb(selector: BestOfK, seed: int) -> float:
        L.seed_everything(seed)
        model = DirectAscent(ImagePyramid(num_images=4, **SMALL), lite0(), augment=Augmentations(batch_size=2), seed=seed)
        root = tmp_path / f"{type(selector).__name__}_{seed}"
        run(model, 12, positive=["goldfish"], callbacks=[selector], root=root)
        assert (root / "best.png").is_file()
        return -selector.best_reward

    for seed in (0, 1):
        guided = ValueGuidance(JpegCompressibility(), every_n_steps=2, alpha=0.0, mutation=1.0)
        baseline = BestOfK(JpegCompressibility())
        kb_guided, kb_baseline = best_kb(guided, seed), best_kb(baseline, seed)
        assert [h["step"] for h in guided.history] == [2, 4, 6, 8, 10]  # never after the last step
        assert kb_guided < kb_baseline, (seed, kb_guided, kb_baseline)
