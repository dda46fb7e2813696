"""The zoo's libraries imported with one sentence when they cannot be: missing, or a torchvision
that does not fit the installed torch."""

from __future__ import annotations

import sys

import pytest

from dasag.scorers.optional import ZooLibraryError, import_zoo_library, matching_torchvision, mismatch_sentence


def test_the_torchvision_series_of_a_torch_release():
    assert matching_torchvision("2.14.1+cu130") == "0.29"
    assert matching_torchvision("2.13.0+cpu") == "0.28"
    assert matching_torchvision("2.9.1") == "0.24"
    assert matching_torchvision("1.13.1") is None


def test_a_mismatch_names_both_versions_and_the_fix():
    text = mismatch_sentence("timm", "2.13.0+cpu", "0.29.1")
    assert text.startswith("timm cannot be imported because torchvision 0.29.1 does not fit torch 2.13.0:")
    assert "torchvision==0.28.*" in text and "torch==2.14.1 torchvision==0.29.1" in text and "\n" not in text


def test_a_missing_library_says_which_extra_brings_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "open_clip", None)  # what Python does for a package that is not there
    with pytest.raises(ZooLibraryError, match=r"^open_clip scorers need open_clip_torch, which is not installed: pip install 'dasag\[zoo\]'"):
        import_zoo_library("open_clip")


def _fake_timm_raising(message: str, tmp_path, monkeypatch) -> None:
    """A ``timm`` package on the path that fails to import with ``message``, as a real one does."""
    fake = tmp_path / "timm"
    fake.mkdir()
    (fake / "__init__.py").write_text(f"raise RuntimeError({message!r})\n")
    monkeypatch.delitem(sys.modules, "timm", raising=False)
    monkeypatch.syspath_prepend(str(tmp_path))


def test_a_torchvision_that_does_not_fit_torch_is_one_sentence_with_both_versions(tmp_path, monkeypatch):
    import torch

    _fake_timm_raising("operator torchvision::nms does not exist", tmp_path, monkeypatch)
    with pytest.raises(ZooLibraryError, match=rf"^timm cannot be imported because torchvision .* does not fit torch {torch.__version__.split('+')[0]}:") as e:
        import_zoo_library("timm")
    assert "pip install" in str(e.value)


def test_an_unrelated_import_error_is_not_hidden(tmp_path, monkeypatch):
    _fake_timm_raising("a bug of its own", tmp_path, monkeypatch)
    with pytest.raises(RuntimeError, match="a bug of its own"):
        import_zoo_library("timm")
