"""Aesthetic heads: a linear chain read from any state dict whose keys describe one, no dropout."""

from __future__ import annotations

import pytest
import torch

from dasag.scorers.aesthetic_head import AestheticHead


def test_widths_come_from_the_state_dict_and_train_mode_is_refused():
    state = {"scoring_head.0.weight": torch.randn(8, 4), "scoring_head.0.bias": torch.zeros(8),
             "scoring_head.2.weight": torch.randn(1, 8), "scoring_head.2.bias": torch.zeros(1)}
    head = AestheticHead.from_state_dict(state)
    assert head.in_features == 4 and not head.train(True).training
    x = torch.randn(3, 4)
    expected = (x @ state["scoring_head.0.weight"].T) @ state["scoring_head.2.weight"].T
    torch.testing.assert_close(head(x), expected.squeeze(-1))


def test_a_bare_linear_head_loads_as_one_layer():
    """LAION's linear aesthetic heads (e.g. sa_0_4_vit_b_32_linear.pth for ViT-B/32) hold a bare weight and bias."""
    state = {"weight": torch.randn(1, 512), "bias": torch.tensor([5.0])}
    head = AestheticHead.from_state_dict(state)
    x = torch.nn.functional.normalize(torch.randn(2, 512), dim=-1)
    assert head.in_features == 512 and len(head.layers) == 1
    torch.testing.assert_close(head(x), (x @ state["weight"].T + state["bias"]).squeeze(-1))


def test_head_rejects_a_state_dict_that_is_not_a_linear_chain() -> None:
    with pytest.raises(ValueError, match="do not chain"):
        AestheticHead.from_state_dict({"l.0.weight": torch.zeros(8, 4), "l.0.bias": torch.zeros(8),
                                       "l.1.weight": torch.zeros(1, 5), "l.1.bias": torch.zeros(1)})
    with pytest.raises(ValueError, match="unexpected key 'running_mean'"):
        AestheticHead.from_state_dict({"running_mean": torch.zeros(3)})


def test_dropout_rates_make_the_head_stochastic_like_the_seed_codes_train_mode_head():
    head = AestheticHead([16, 64, 32, 1], dropout=[0.5, 0.2])
    assert head.stochastic and not AestheticHead([16, 64, 32, 1]).stochastic
    x = torch.randn(4, 16)
    torch.manual_seed(1)
    a = head(x)
    torch.manual_seed(1)
    assert torch.equal(head(x), a)  # masks come from the global generator: seeded, repeatable
    assert not torch.equal(head(x), a)
    # the expectation is the dropout-free head's output (inverted dropout rescales by 1 / (1 - p))
    torch.manual_seed(0)
    mean = torch.stack([head(x) for _ in range(4000)]).mean(0)
    clean = AestheticHead([16, 64, 32, 1])
    clean.load_state_dict(head.state_dict())
    torch.testing.assert_close(mean, clean(x), atol=0.05 * clean(x).abs().max().item() + 0.02, rtol=0.1)
    with pytest.raises(ValueError, match="aesthetic_dropout has 3 rates but this head has only 2 hidden layers"):
        AestheticHead([16, 64, 32, 1], dropout=[0.5, 0.5, 0.5])


def test_bad_dropout_rates_are_one_sentence():
    from dasag.scorers.hf_text_image import check_dropout

    assert check_dropout(None) == () and check_dropout([0.5, 0]) == (0.5, 0.0)
    for bad in ([1.0], [-0.1], ["x"], "0.5"):
        with pytest.raises(ValueError, match="aesthetic_dropout"):
            check_dropout(bad)
