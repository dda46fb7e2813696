"""``dasag.generate``: prompts in, picture out, in one call; nothing written; bad input one sentence."""

from __future__ import annotations

import io
import json
import os

import numpy as np
import pytest
from PIL import Image

import dasag

TINY = {"model": {"pyramid": {"init_args": {"max_size": 64, "max_shift": 8}}, "augment": {"init_args": {"batch_size": 2}},
                  "scorer": {"init_args": {"input_size": 64}}}}


@pytest.mark.slow
def test_a_picture_of_a_class_in_one_call_the_same_twice_and_nothing_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    first = dasag.generate("goldfish", steps=2, seed=1, overrides=TINY)
    again = dasag.generate(["goldfish"], steps=2, seed=1, overrides=TINY)
    other = dasag.generate("goldfish", steps=2, seed=2, overrides=TINY)
    assert first.images[0].shape == (48, 48, 3) and first.images[0].dtype == np.uint8
    assert first.png() == again.png() and not np.array_equal(first.images[0], other.images[0])
    meta = json.loads(Image.open(io.BytesIO(first.png())).text["dasag"])
    assert meta["prompts"]["positive"] == ["goldfish"] and meta["seed"] == 1 and meta["step"] == 2
    assert os.listdir(tmp_path) == []


def test_bad_input_is_one_sentence_before_anything_loads():
    with pytest.raises(dasag.ConfigError, match="unknown ImageNet class 'goldfsh'"):
        dasag.generate("goldfsh", steps=1)
    with pytest.raises(dasag.ConfigError, match="does not exist, here or among the shipped configs"):
        dasag.generate("goldfish", config="no_such_config")
