"""Checkpoints whole or absent under their final name: a same-folder temp file and a rename, weights-only loadable; URLs keep Lightning's path."""

from __future__ import annotations

import os

import pytest
import torch
from lightning.pytorch.plugins.io import TorchCheckpointIO

from dasag.run.checkpoint_io import AtomicCheckpointIO


def checkpoint() -> dict:
    return {"state_dict": {"pyramid.levels.0": torch.arange(12.0).view(3, 4)}, "global_step": 5, "dasag": {"seed": 3, "run_config": None}}


def test_a_checkpoint_is_written_through_a_temp_file_in_its_own_folder_then_renamed(tmp_path, monkeypatch):
    path = tmp_path / "checkpoints" / "last.ckpt"
    renames = []
    real_replace = os.replace

    def recording_replace(src, dst):
        renames.append((os.fspath(src), os.fspath(dst), os.path.exists(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", recording_replace)
    AtomicCheckpointIO().save_checkpoint(checkpoint(), path)
    [(src, dst, existed)] = renames
    assert dst == os.fspath(path) and not existed  # the final name appears only by the rename
    assert os.path.dirname(src) == os.fspath(path.parent) and src != dst  # the temp file sits beside it: the rename never copies
    assert sorted(p.name for p in path.parent.iterdir()) == ["last.ckpt"]  # no temp file left


def test_the_saved_checkpoint_loads_weights_only_and_replaces_an_older_one(tmp_path):
    path = tmp_path / "last.ckpt"
    io_plugin = AtomicCheckpointIO()
    io_plugin.save_checkpoint({"state_dict": {}, "global_step": 1}, path)
    io_plugin.save_checkpoint(checkpoint(), path)
    loaded = torch.load(path, map_location="cpu", weights_only=True)
    assert loaded["global_step"] == 5 and loaded["dasag"] == {"seed": 3, "run_config": None}
    assert torch.equal(loaded["state_dict"]["pyramid.levels.0"], checkpoint()["state_dict"]["pyramid.levels.0"])
    assert io_plugin.load_checkpoint(path)["global_step"] == 5  # Lightning's own reader takes it too


def test_storage_options_are_refused_for_a_local_path(tmp_path):
    path = tmp_path / "last.ckpt"
    with pytest.raises(TypeError, match="AtomicCheckpointIO takes no storage_options; got"):
        AtomicCheckpointIO().save_checkpoint(checkpoint(), path, storage_options={"anon": True})
    assert not path.exists()


def test_a_url_goes_to_lightnings_own_save(tmp_path, monkeypatch):
    calls = []

    def recording_save(self, ckpt, path, storage_options=None):
        calls.append((ckpt, path, storage_options))

    monkeypatch.setattr(TorchCheckpointIO, "save_checkpoint", recording_save)
    ckpt, options = checkpoint(), {"anon": True}
    AtomicCheckpointIO().save_checkpoint(ckpt, "s3://bucket/run/last.ckpt", storage_options=options)
    assert calls == [(ckpt, "s3://bucket/run/last.ckpt", options)]  # storage options go with a URL
    AtomicCheckpointIO().save_checkpoint(ckpt, tmp_path / "local.ckpt")
    assert len(calls) == 1 and (tmp_path / "local.ckpt").is_file()  # a local path never does
