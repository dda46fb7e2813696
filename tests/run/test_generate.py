"""``dasag.generate``: prompts in, picture out, in one call; nothing written; bad input one sentence."""

from __future__ import annotations

import io
import json
import os

import numpy as np
import pytest
from PIL import Image

import dasag
from dasag.run import generate as generate_module

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


@pytest.mark.parametrize(("kwargs", "words"), [
    ({"prompts": None}, "prompts must be a prompt (a text such as 'a castle | misty:0.5', an ImageNet class index or a {text, weight} mapping) "
                        "or a list of them; got NoneType."),
    ({"prompts": b"goldfish"}, "prompts must be a prompt (a text such as"),
    ({"prompts": ["goldfish", None]}, "prompts[1]: a prompt must be a text, an ImageNet class index, or a mapping with text or image and weight; "
                                      "got NoneType."),
    ({"prompts": {"txt": "goldfish"}}, "prompts: a prompt mapping has unknown keys ['txt']"),
    ({"prompts": "goldfish", "config": None}, "config must be a shipped config's name (e.g. 'demo'), a config file or a config mapping; got None."),
    ({"prompts": "goldfish", "config": 3}, "config must be a shipped config's name"),
    ({"prompts": "goldfish", "config": ""}, "config must be a shipped config's name"),
    ({"prompts": "goldfish", "config": {"base": 3}}, "config: base must name a config"),
    ({"prompts": "goldfish", "overrides": [{"trainer": {"max_steps": 1}}]}, "overrides must be a mapping of config values merged over the config"),
    ({"prompts": "goldfish", "overrides": "trainer.max_steps=1"}, "overrides must be a mapping of config values"),
    ({"prompts": "goldfish", "negative": "volcanoe"}, "unknown ImageNet class 'volcanoe'"),
    ({"prompts": "goldfish", "negative": [3.5]}, "negative[0]: a prompt must be a text"),
    ({"prompts": "goldfish", "seed": 1.5}, "seed must be a whole number from 0 to 4294967295; got 1.5."),
    ({"prompts": "goldfish", "seed": "3"}, "seed must be a whole number from 0 to 4294967295; got '3'."),
    ({"prompts": "goldfish", "seed": None}, "seed must be a whole number from 0 to 4294967295; got None."),
    ({"prompts": "goldfish", "seed": 2**32}, "seed must be a whole number from 0 to 4294967295; got 4294967296."),
    ({"prompts": "goldfish", "steps": 1.5}, "steps must be a whole number from 1 to 1000000; got 1.5."),
    ({"prompts": "goldfish", "steps": True}, "steps must be a whole number from 1 to 1000000; got True."),
    ({"prompts": "goldfish", "steps": "3"}, "steps must be a whole number from 1 to 1000000; got '3'."),
], ids=lambda v: repr(v)[:40] if isinstance(v, dict) else "")
def test_every_bad_argument_is_dasags_own_sentence(kwargs, words, tmp_path, monkeypatch):
    """``None`` prompts or config and list overrides were TypeError/AttributeError from inside; a seed of 1.5 was "expected bool"."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(dasag.ConfigError) as caught:
        dasag.generate(**{"steps": 1, **kwargs})
    assert words in str(caught.value) and "\n" not in str(caught.value), str(caught.value)
    assert os.listdir(tmp_path) == []


def test_a_text_negative_is_one_prompt_not_its_letters():
    """``negative="volcano"`` was split into letters ("unknown ImageNet class 'v'"); an unknown class is named whole."""
    assert generate_module.prompt_list("volcano", "negative") == ["volcano"]
    assert generate_module.prompt_list(None, "negative") == []
    assert generate_module.prompt_list(np.int64(1), "prompts") == ["1"]
    assert generate_module.prompt_list(({"text": "goldfish", "weight": 2},), "prompts") == [{"text": "goldfish", "weight": 2}]
    with pytest.raises(dasag.ConfigError, match="unknown ImageNet class 'volcanoo'"):
        dasag.generate("goldfish", steps=1, negative="volcanoo")


def test_numpy_integers_are_whole_numbers():
    assert generate_module.whole_number(np.int64(7), "seed", 0, 10) == 7
    with pytest.raises(dasag.ConfigError, match="seed must be a whole number from 0 to 10; got 11"):
        generate_module.whole_number(11, "seed", 0, 10)
