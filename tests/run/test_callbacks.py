"""ImageExport: PNGs every N steps and at the end, also when the run is interrupted."""

from __future__ import annotations

import lightning as L
import pytest
import torch

from dasag import Augmentations, DirectAscent, ImageExport, ImagePyramid, PromptDataModule
from dasag.image.picture import read_metadata
from dasag.run.callbacks import ScheduleAnnealing
from dasag.scorers import EfficientNetLite

pytestmark = pytest.mark.slow  # real fits


def fit(root, steps: int, callbacks) -> DirectAscent:
    torch.manual_seed(0)
    module = DirectAscent(ImagePyramid(max_size=64, max_shift=8), EfficientNetLite("lite0", input_size=64), augment=Augmentations(batch_size=1))
    trainer = L.Trainer(accelerator="cpu", max_steps=steps, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                        enable_model_summary=False, default_root_dir=root, callbacks=[ScheduleAnnealing(), *callbacks])
    trainer.fit(module, datamodule=PromptDataModule(positive_prompts=["goldfish"]))
    return module


def test_images_every_n_steps_and_the_final_one(tmp_path):
    export = ImageExport(every_n_steps=2)
    fit(tmp_path, 4, [export])
    assert sorted(p.name for p in (tmp_path / "images").iterdir()) == ["step_000002.png", "step_000004.png"]
    meta = read_metadata(tmp_path / "final.png")
    assert meta["step"] == 4 and meta["prompts"]["positive"] == ["goldfish"] and "lite0/positive" in meta["scores"]
    assert export.final_paths == [tmp_path / "final.png"]


def test_an_interrupted_run_still_writes_its_image(tmp_path):
    class Interrupt(L.Callback):
        def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
            if trainer.global_step == 2:
                raise RuntimeError("power cut")

    with pytest.raises(RuntimeError, match="power cut"):
        fit(tmp_path, 10, [ImageExport(), Interrupt()])
    assert read_metadata(tmp_path / "final.png")["step"] == 2


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError, match="every_n_steps values must be >= 0"):
        ImageExport(every_n_steps=-1)
