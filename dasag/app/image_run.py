"""A run in a background thread, watched live: progress snapshots, a stop switch, the result.

A web page redraws itself on every click, so the Trainer cannot run inside the page's own
script (a click would interrupt it). It runs here in a thread instead; the page reads the
latest :class:`Snapshot` and, on Stop, sets a flag that :class:`LiveProgress` turns into
``trainer.should_stop`` after the current step. Nothing here imports Streamlit.
"""

from __future__ import annotations

import atexit
import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self

import lightning as L
import numpy as np
from lightning.pytorch.callbacks import Callback

from dasag.app.run_queue import RunQueue, Ticket
from dasag.core.errors import error_text
from dasag.image.picture import from_uint8
from dasag.run.build import BuiltRun, ScorerCache
from dasag.run.callbacks import ImageExport
from dasag.run.picture import finished_picture
from dasag.scorers.classifier import ClassReadout, ImageNetClassifier, class_readout
from dasag.scorers.efficientnet import EfficientNetLite


@dataclass(frozen=True)
class Snapshot:
    """The run as last seen: steps done, loss and clean-image scores, the current picture."""

    step: int
    total: int
    loss: float | None
    scores: dict[str, float]
    image: np.ndarray
    #: Seconds left at the pace since step 1 (``None`` until a second snapshot: step 1 carries
    #: the weights' loading and the first compilations, which made its pace read "17 h left").
    seconds_left: float | None = None


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


class LiveProgress(Callback):
    """Publishes a :class:`Snapshot` every ``every_n_steps`` and honours a stop request.

    Reading the loss and scoring the clean image syncs with the device, so it happens only
    on the steps that are shown, never every step.
    """

    def __init__(self, every_n_steps: int = 5, owner_alive: Callable[[], bool] | None = None) -> None:
        """
        Args:
            every_n_steps: how often a snapshot (picture and scores) is published.
            owner_alive: whether the page that started the run is still open; once it is not, the
                run stops after the current step, so a closed tab leaves no orphan run holding the
                shared model (``None``: no owner to watch).
        """
        if every_n_steps < 1:
            raise ValueError(f"LiveProgress every_n_steps must be at least 1; got {every_n_steps}.")
        self.every_n_steps = every_n_steps
        self.owner_alive = owner_alive
        self.stop_requested = threading.Event()
        self._lock = threading.Lock()
        self._latest: Snapshot | None = None
        self._first: tuple[float, int] | None = None  # (when, step) of the first snapshot

    @property
    def latest(self) -> Snapshot | None:
        with self._lock:
            return self._latest

    def on_train_batch_end(self, trainer: L.Trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        step, total = trainer.global_step, int(trainer.max_steps)
        if self.owner_alive is not None and not self.owner_alive():
            self.stop_requested.set()
        stopping = self.stop_requested.is_set()
        if stopping:
            trainer.should_stop = True
        if not (stopping or step == 1 or step % self.every_n_steps == 0 or step >= total):
            return
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        picture = finished_picture(pl_module, step)
        now = time.monotonic()
        if self._first is None:
            self._first = (now, step)
        began, first = self._first
        left = (now - began) / (step - first) * (total - step) if step > first else None
        snap = Snapshot(step, total, None if loss is None else float(loss), picture.scores[0], picture.sheet, left)
        with self._lock:
            self._latest = snap


#: How long the process waits at exit for a run to finish its current step.
EXIT_WAIT_SECONDS = 120.0

#: The app's scorers, shared by every session of its process (the run builder's cache).
SharedScorers = ScorerCache


class BackgroundRun:
    """A piece of work in a daemon thread that the page can stop and wait for, and that ends with
    the process: the thread, Stop, and the exit hook that one app run and one app clip share."""

    def __init__(self, name: str, queue: RunQueue | None = None) -> None:
        """``queue``: the server's line this work waits its turn in (``None``: it starts at once)."""
        self._thread = threading.Thread(target=self._run_and_forget, name=name, daemon=True)
        self.queue = queue
        self._ticket: Ticket | None = None

    def start(self) -> Self:
        if self.queue is not None:  # its place is taken now, when it is asked for
            self._ticket = self.queue.join()
        atexit.register(self._end_with_the_process)
        self._thread.start()
        return self

    @property
    def place(self) -> int | None:
        """Its place in the server's line (1: next), ``None`` once it runs (or without a line)."""
        return None if self._ticket is None or self.queue is None else self.queue.place(self._ticket)

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def join(self, timeout: float | None = None) -> None:
        self._thread.join(timeout)

    def stop(self) -> None:  # pragma: no cover - abstract
        """End after the current step."""
        raise NotImplementedError

    def _run(self) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def _given_up(self) -> bool:  # pragma: no cover - abstract
        """Whether the work should end before it starts: Stop was pressed or its page is gone."""
        raise NotImplementedError

    def _left_the_line(self) -> None:  # pragma: no cover - abstract
        """Record that it was given up while waiting its turn (nothing ran)."""
        raise NotImplementedError

    def _run_and_forget(self) -> None:
        try:
            if self._ticket is not None and self.queue is not None and not self.queue.wait(self._ticket, self._given_up):
                self._left_the_line()
                return
            self._run()
        finally:  # the exit hook holds the run (its model and pictures) until it is unregistered
            if self._ticket is not None and self.queue is not None:
                self.queue.leave(self._ticket)
            atexit.unregister(self._end_with_the_process)

    def _end_with_the_process(self) -> None:
        """At interpreter exit (the server stopped with Ctrl-C): stop after the current step and wait
        for it. A daemon thread still inside a backward pass when Python finalises aborts the whole
        process with ``terminate called without an active exception``."""
        self.stop()
        self.join(EXIT_WAIT_SECONDS)


class LiveRun(BackgroundRun):
    """``trainer.fit`` in a daemon thread; the result is kept even when stopped or failed."""

    def __init__(self, built: BuiltRun, progress: LiveProgress, shared: SharedScorers | None = None, queue: RunQueue | None = None) -> None:
        super().__init__("dasag-live-run", queue)
        self.built = built
        self.progress = progress
        self.shared = shared
        self.result: Result | None = None
        self.error: str | None = None
        self.waiting = False  # True while another run holds the shared model
        self._started: float | None = None

    @property
    def elapsed(self) -> float | None:
        """Seconds since the run got the model and started (``None`` while it waits)."""
        return None if self._started is None else time.monotonic() - self._started

    def stop(self) -> None:
        """End after the current step; the image so far becomes the result."""
        self.progress.stop_requested.set()

    def _given_up(self) -> bool:
        owner_alive = self.progress.owner_alive
        return self.progress.stop_requested.is_set() or (owner_alive is not None and not owner_alive())

    def _left_the_line(self) -> None:
        self.error = "stopped while waiting for its turn; nothing ran."

    def _run(self) -> None:
        lock = self.shared.lock(self.built.model.scorer) if self.shared is not None else None
        self.waiting = lock is not None and lock.locked()
        if lock is not None:
            acquired = False
            while not acquired and not self._given_up():  # another run may have the model: wait, but not for a page that is gone
                acquired = lock.acquire(timeout=0.5)
            if acquired and self._given_up():  # the page went (or Stop came) just as the model came free
                lock.release()
                acquired = False
            if not acquired:
                self.waiting = False
                self.error = "stopped while waiting for the shared model; nothing ran."
                return
        self.waiting = False
        self._started = time.monotonic()
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

    def _held_out_readout(self, image, positive, negative, guides: list[str]) -> list[ClassReadout]:
        """What a classifier that did not guide the picture sees in it (the guide is always sure:
        it was optimised to be). Only for ImageNet-class prompts; the judge's weights load once
        per process through the shared scorers."""
        from dasag.scorers.efficientnet import held_out_variant
        from dasag.scorers.imagenet import resolve_class

        variant = held_out_variant(guides) if guides else None
        if variant is None or not positive:
            return []
        try:
            for p in [*positive, *negative]:
                resolve_class(p)
        except ValueError:
            return []
        judge = EfficientNetLite(variant)
        lock = None
        if self.shared is not None:  # one copy of its weights per process, used by one run at a time
            judge = self.shared(f"held-out {variant}", judge)
            lock = self.shared.lock(judge)
        with lock if lock is not None else contextlib.nullcontext():
            judge.to(image.device)
            return [class_readout(judge, image, positive, negative, name=variant, guided=False)]

    def _result(self) -> Result | None:
        model, trainer = self.built.model, self.built.trainer
        if model.prompts is None or trainer.global_step == 0:  # no step ran: the starting noise is not a result
            return None
        picture = self.built.picture()
        step = trainer.global_step
        files = [p for cb in trainer.callbacks if isinstance(cb, ImageExport) for p in cb.final_paths]
        positive, negative = model.prompts.positive, model.prompts.negative
        first = from_uint8(picture.images[0]).unsqueeze(0).to(model.device)  # what the PNG holds
        with model.autocast():
            classes = [class_readout(m, first, positive, negative, name=name)
                       for name, m in zip(model.scorer.names, model.scorer.members) if isinstance(m, ImageNetClassifier)]
        classes += self._held_out_readout(first, positive, negative, [m.variant for m in model.scorer.members if isinstance(m, EfficientNetLite)])
        return Result(
            image=picture.sheet,
            png=picture.png(),
            scores=picture.scores[0],
            step=step,
            total=int(trainer.max_steps),
            stopped=step < int(trainer.max_steps),
            files=files,
            classes=classes,
        )
