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


def test_head_rejects_a_state_dict_that_is_not_a_linear_chain() -> None:
    with pytest.raises(ValueError, match="do not chain"):
        AestheticHead.from_state_dict({"l.0.weight": torch.zeros(8, 4), "l.0.bias": torch.zeros(8),
                                       "l.1.weight": torch.zeros(1, 5), "l.1.bias": torch.zeros(1)})
    with pytest.raises(ValueError, match="unexpected key 'running_mean'"):
        AestheticHead.from_state_dict({"running_mean": torch.zeros(3)})
