"""A run in a background thread, watched live: progress snapshots, a stop switch, the result.

A web page redraws itself on every click, so the Trainer cannot run inside the page's own
script (a click would interrupt it). It runs here in a thread instead; the page reads the
latest :class:`Snapshot` and, on Stop, sets a flag that :class:`LiveProgress` turns into
``trainer.should_stop`` after the current step. Nothing here imports Streamlit.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
from lightning.pytorch.callbacks import Callback

from dasag.callbacks import ImageExport, image_metadata
from dasag.config import BuiltRun, error_text
from dasag.images import grid, png_bytes, to_uint8
from dasag.scorers.classifier import ClassReadout, EfficientNetLite, class_readout
from dasag.scorers.ensemble import ScorerEnsemble


@dataclass(frozen=True)
class Snapshot:
    """The run as last seen: steps done, loss and clean-image scores, the current picture."""

    step: int
    total: int
    loss: float | None
    scores: dict[str, float]
    image: np.ndarray


@dataclass
class Result:
    """A finished (or stopped) run: the picture, its scores and the PNG the CLI would write."""

    image: np.ndarray
    png: bytes
    scores: dict[str, float]
    step: int
    total: int
    stopped: bool
    files: list[Path] = field(default_factory=list)
    #: Each classifier's reading of the image (p(class) and its top-5), for the page.
    classes: list[ClassReadout] = field(default_factory=list)


def _picture(pl_module) -> tuple[Any, np.ndarray]:
    images = pl_module.images()
    sheet = images[0] if images.shape[0] == 1 else grid(images)
    return images, sheet


class LiveProgress(Callback):
    """Publishes a :class:`Snapshot` every ``every_n_steps`` and honours a stop request.

    Reading the loss and scoring the clean image syncs with the device, so it happens only
    on the steps that are shown, never every step.
    """

    def __init__(self, every_n_steps: int = 5) -> None:
        if every_n_steps < 1:
            raise ValueError(f"LiveProgress every_n_steps must be at least 1; got {every_n_steps}.")
        self.every_n_steps = every_n_steps
        self.stop_requested = threading.Event()
        self._lock = threading.Lock()
        self._latest: Snapshot | None = None

    @property
    def latest(self) -> Snapshot | None:
        with self._lock:
            return self._latest

    def on_train_batch_end(self, trainer: L.Trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        step, total = trainer.global_step, int(trainer.max_steps)
        stopping = self.stop_requested.is_set()
        if stopping:
            trainer.should_stop = True
        if not (stopping or step == 1 or step % self.every_n_steps == 0 or step >= total):
            return
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        images, sheet = _picture(pl_module)
        scores = pl_module.evaluate(images)[0]
        snap = Snapshot(step, total, None if loss is None else float(loss), scores, to_uint8(sheet))
        with self._lock:
            self._latest = snap


class SharedScorers:
    """Scorers shared by every run of a process, so each model's weights load once.

    A scorer caches the targets of one prompt set at a time, so runs that share it take
    turns: :meth:`lock` is held for the whole of a run.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._scorers: dict[str, tuple[ScorerEnsemble, threading.Lock]] = {}

    def __call__(self, key: str, fresh: ScorerEnsemble) -> ScorerEnsemble:
        """The scorer stored under ``key``; ``fresh`` (not loaded yet) is stored if none is."""
        with self._lock:
            if key not in self._scorers:
                self._scorers[key] = (fresh, threading.Lock())
            return self._scorers[key][0]

    def lock(self, scorer: ScorerEnsemble) -> threading.Lock | None:
        with self._lock:
            for stored, lock in self._scorers.values():
                if stored is scorer:
                    return lock
        return None

    def __len__(self) -> int:
        return len(self._scorers)


class LiveRun:
    """``trainer.fit`` in a daemon thread; the result is kept even when stopped or failed."""

    def __init__(self, built: BuiltRun, progress: LiveProgress, shared: SharedScorers | None = None) -> None:
        self.built = built
        self.progress = progress
        self.shared = shared
        self.result: Result | None = None
        self.error: str | None = None
        self.waiting = False  # True while another run holds the shared model
        self._thread = threading.Thread(target=self._run, name="dasag-live-run", daemon=True)

    def start(self) -> LiveRun:
        self._thread.start()
        return self

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def stop(self) -> None:
        """End after the current step; the image so far becomes the result."""
        self.progress.stop_requested.set()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def _run(self) -> None:
        lock = self.shared.lock(self.built.model.scorer) if self.shared is not None else None
        self.waiting = lock is not None and lock.locked()
        if lock is not None:
            lock.acquire()
        self.waiting = False
        try:
            try:
                self.built.fit()
            except Exception as e:  # shown in the page as one sentence; the image is still kept below
                self.error = error_text(e)
            try:
                self.result = self._result()
            except Exception as e:  # the page must say why there is no result, never go quiet
                self.error = self.error or f"the result could not be read back: {error_text(e)}"
        finally:
            if lock is not None:
                lock.release()

    def _result(self) -> Result | None:
        model, trainer = self.built.model, self.built.trainer
        if model.prompts is None or trainer.global_step == 0:  # no step ran: the starting noise is not a result
            return None
        images, sheet = _picture(model)
        scores = model.evaluate(images)
        step = trainer.global_step
        png = png_bytes(sheet, image_metadata(model, step, scores))
        files = [p for cb in trainer.callbacks if isinstance(cb, ImageExport) for p in cb.final_paths]
        positive, negative = model.prompts.positive, model.prompts.negative
        with model.autocast():
            classes = [class_readout(m, images[:1], positive, negative, name=name)
                       for name, m in zip(model.scorer.names, model.scorer.members) if isinstance(m, EfficientNetLite)]
        return Result(
            image=to_uint8(sheet),
            png=png,
            scores=scores[0],
            step=step,
            total=int(trainer.max_steps),
            stopped=step < int(trainer.max_steps),
            files=files,
            classes=classes,
        )
