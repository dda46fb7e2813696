"""The eager fp32 step every speed switch is compared with."""

from __future__ import annotations

import pytest

from tiny_models import loss_and_grads, siglip_module


@pytest.fixture(scope="package")
def siglip_eager():
    return loss_and_grads(siglip_module())
