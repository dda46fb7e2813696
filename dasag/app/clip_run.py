"""A clip made in a background thread for the app's "Make a clip" option; nothing here imports Streamlit.

The page's form already describes one run (:meth:`~dasag.app.settings.AppSettings.to_config`);
:func:`clip_config` adds an ``animation:`` block to it (from one prompt to another, a number of
frames, a zoom), starting from the shipped offline clip's settings
(``configs/animation/daisy_to_volcano.yaml``), so the page states no defaults of its own.
:class:`ClipRun` runs :func:`dasag.animation.animate.make_clip`, the code behind ``dasag animate``,
in a thread and keeps the latest finished frame for the page to show; Stop drops the frame in
progress and keeps the finished ones.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from dasag.animation.animate import ClipResult, ClipSpec, FrameDone, make_clip
from dasag.app.image_run import BackgroundRun, SharedScorers
from dasag.app.run_queue import RunQueue
from dasag.core.config import CONFIGS, load_config
from dasag.core.errors import ConfigError, error_text

#: The shipped clip whose animation settings the form starts from.
SHIPPED_CLIP = CONFIGS / "animation" / "daisy_to_volcano.yaml"
#: The shipped text-prompt clip: its later frames' settings (a gentler learning rate) suit SigLIP and CLIP.
SHIPPED_TEXT_CLIP = CONFIGS / "animation" / "siglip_zoom.yaml"
#: CPU threads of an app clip: its frames' bytes depend on it, so it is fixed, not the machine's count.
APP_THREADS = 2


@lru_cache(maxsize=1)
def shipped_animation() -> dict[str, Any]:
    """The shipped offline clip's ``animation:`` block (frames, steps, camera, later_frames)."""
    return load_config(SHIPPED_CLIP)["animation"]


@dataclass
class ClipForm:
    """The "Make a clip" controls: from one prompt to another over ``frames`` frames, zooming in."""

    start: str
    end: str
    frames: int = shipped_animation()["frames"]
    steps: int = shipped_animation()["steps"]
    zoom: float = shipped_animation()["camera"]["zoom"]
    fps: float = shipped_animation()["fps"]

    def check(self) -> None:
        for name, text in (("from", self.start), ("to", self.end)):
            if not str(text).strip():
                raise ConfigError(f"the clip's '{name}' prompt is empty: give a prompt (or an ImageNet class name for a classifier).")


def later_frames_for(run: dict[str, Any]) -> dict[str, Any]:
    """The later frames' settings of the shipped clip made with the run's kind of guide: a
    classifier's (``daisy_to_volcano``: lr 0.6) or a text-image model's (``siglip_zoom``: lr 0.3).
    One learning rate for every guide repainted SigLIP frames twice as hard as its own config does."""
    scorer = str(((run.get("model") or {}).get("scorer") or {}).get("class_path", ""))
    shipped = SHIPPED_CLIP if scorer.endswith("EfficientNetLite") else SHIPPED_TEXT_CLIP
    return load_config(shipped)["animation"].get("later_frames", {})


def clip_config(run: dict[str, Any], form: ClipForm) -> dict[str, Any]:
    """The page's run config with an animation block: ``form.start`` at frame 0 fading into
    ``form.end`` at the last frame, the form's steps, zoom and fps, and the ``later_frames`` of the
    shipped clip for the run's kind of guide (:func:`later_frames_for`); the run's own step budget is frame 0's."""
    form.check()
    last = max(int(form.frames) - 1, 0)
    keyframes = [{"frame": 0, "prompts": [form.start.strip()]}]
    if last > 0:
        keyframes.append({"frame": last, "prompts": [form.end.strip()]})
    animation = {
        "frames": int(form.frames), "steps": int(form.steps), "fps": float(form.fps),
        "camera": {"zoom": float(form.zoom)}, "keyframes": keyframes,
        "later_frames": later_frames_for(run),
    }
    data = dict(run.get("data") or {})
    data.pop("positive_prompts", None)  # the keyframes name them
    return {**run, "data": data, "animation": animation}


def clip_folder(output_dir: str, config: dict[str, Any]) -> Path:
    """``<output>/clips/<hash of the config>``: the same clip settings continue the same folder."""
    digest = hashlib.sha256(json.dumps(config, sort_keys=True, default=str).encode()).hexdigest()[:12]
    return Path(output_dir) / "clips" / digest


class ClipRun(BackgroundRun):
    """:func:`~dasag.animation.animate.make_clip` in a daemon thread, holding the shared scorer while it runs."""

    def __init__(self, config: dict[str, Any], out: Path, shared: SharedScorers | None = None,
                 owner_alive: Callable[[], bool] | None = None, queue: RunQueue | None = None) -> None:
        """``owner_alive``: whether the page that started the clip is still open; once it is not,
        the clip stops as Stop stops it (finished frames kept), so a closed tab leaves no orphan.
        ``queue``: the server's line the clip waits its turn in, as a run does."""
        super().__init__("dasag-clip", queue)
        self.spec = ClipSpec(config, Path(out), APP_THREADS)
        self.total = int(config["animation"]["frames"])
        self.shared = shared
        self.owner_alive = owner_alive
        self.stop_requested = threading.Event()
        self.result: ClipResult | None = None
        self.error: str | None = None
        self._latest: FrameDone | None = None
        self._lock = threading.Lock()
        self._held: threading.Lock | None = None

    def start(self) -> ClipRun:
        super().start()
        if self.owner_alive is not None:
            threading.Thread(target=self._watch_owner, name="dasag-clip-owner", daemon=True).start()
        return self

    def _watch_owner(self) -> None:
        while self.running:
            if not self.owner_alive():
                self.stop_requested.set()
                return
            self.join(0.5)

    @property
    def latest(self) -> FrameDone | None:
        with self._lock:
            return self._latest

    def stop(self) -> None:
        """End after the frame's current step; finished frames are kept."""
        self.stop_requested.set()

    def _given_up(self) -> bool:
        return self.stop_requested.is_set() or (self.owner_alive is not None and not self.owner_alive())

    def _left_the_line(self) -> None:
        self.error = "stopped while waiting for its turn; no frame was made."

    def gif(self) -> bytes | None:
        return self.result.gif.read_bytes() if self.result is not None and self.result.gif is not None else None

    def _share(self, key: str, fresh):
        """The shared scorer; its lock is taken on first use and held until the clip ends (a scorer
        holds one prompt set at a time, and a clip changes it every frame)."""
        scorer = self.shared(key, fresh)
        if self._held is None:
            lock = self.shared.lock(scorer)
            if lock is not None:
                while not lock.acquire(timeout=0.5):  # another run has the model: wait, unless stopped meanwhile
                    if self.stop_requested.is_set():
                        raise RuntimeError("stopped while waiting for the shared model; no frame was made")
                self._held = lock
        return scorer

    def _on_frame(self, done: FrameDone) -> None:
        with self._lock:
            self._latest = done

    def _run(self) -> None:
        try:
            self.result = make_clip(self.spec, on_frame=self._on_frame, stop=self.stop_requested,
                                    share_scorer=self._share if self.shared is not None else None, log=lambda _: None)
        except Exception as e:  # shown in the page as one sentence
            self.error = error_text(e)
        finally:
            if self._held is not None:
                self._held.release()


def latest_picture(run: ClipRun) -> tuple[np.ndarray, int] | None:
    """The last finished frame and its index, for the page (``None`` before the first)."""
    done = run.latest
    return None if done is None else (done.picture, done.frame)
