import pytest

from dasag.scorers.imagenet import class_names, resolve_class


def test_names_indices_and_spellings():
    assert len(class_names()) == 1000
    assert resolve_class("goldfish") == 1
    assert resolve_class("Great White Shark") == resolve_class("great_white_shark") == 2
    assert resolve_class(999) == resolve_class("999") == 999


def test_unknown_name_suggests_close_names():
    with pytest.raises(ValueError, match="unknown ImageNet class 'goldfsh'.*goldfish"):
        resolve_class("goldfsh")


def test_ambiguous_name_and_bad_index():
    with pytest.raises(ValueError, match=r"ambiguous.*\[134, 517\]"):
        resolve_class("crane")
    with pytest.raises(ValueError, match="0..999"):
        resolve_class(1000)
