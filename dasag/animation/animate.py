"""Animation: a run over keyframes, frame by frame, exported as PNGs, an MP4 and a GIF.

    dasag animate --config animation/daisy_to_volcano --out runs/clip

The config is a normal run config (with ``base:``) plus an ``animation:`` block
(:mod:`dasag.animation.keyframes`). Frame 0 is an ordinary run from noise. Every later frame starts
from the previous frame's saved 8-bit PNG, moved by the camera (:mod:`dasag.animation.camera`) and put
into the pyramid with ``set_image``, and takes ``animation.steps`` ascent steps towards that
frame's blend of the keyframe prompts, with seed ``seed_everything + frame``. Starting from the
saved PNG even when the previous frame is still in memory is what makes a resumed run give the
same bytes as one that never stopped: a frame is a pure function of (config, frame, previous PNG).

Outputs under ``--out``: ``frames/0000.png`` ... (each written atomically as it finishes, with
metadata: frame, prompts with weights, seed, camera, the previous frame's hash, scores and the
resolved config), ``clip.mp4`` and ``clip.gif`` (written atomically once every frame exists),
``animation.json`` (the config and thread count: a rerun with other options into the same
folder is refused) and ``tensorboard/`` (each frame as an image at step = frame index, so the
slider plays the clip: ``tensorboard --logdir DIR/tensorboard``). A folder lock keeps two runs
apart; a kill loses at most the frame in progress, and the same command continues from the
first missing frame.

Exit status: 0 done, 1 stopped by a full disk (finished frames kept), 2 bad options.
"""

from __future__ import annotations

import copy
import hashlib
import os
import resource
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from lightning.pytorch.callbacks import Callback

from dasag.animation.keyframes import Animation, parse_animation, prompt_config
from dasag.core.config import deep_merge, load_config
from dasag.core.errors import ConfigError, first_line
from dasag.core.eta import progress_text
from dasag.core.files import write_bytes_atomic
from dasag.core.output_folder import OutputFolder
from dasag.core.process import DETERMINISTIC_THREADS, check_threads
from dasag.core.prompts import Prompt
from dasag.run.build import ScorerCache, ShareScorer, build_run, check_seed
from dasag.run.step_log import StepLog

#: The options file under ``--out``; a run into a folder holding another animation is refused.
OPTIONS_FILE = "animation.json"
FRAMES_DIR = "frames"
TENSORBOARD_DIR = "tensorboard"


@dataclass
class ClipSpec:
    """What a clip is made from: the merged config (with its ``animation:`` block) and where it goes."""

    config: dict[str, Any]
    out: Path
    #: CPU threads. CPU convolution backward sums in a thread-dependent order, so a frame's bytes
    #: depend on it: it is stored in animation.json and reused. ``None``: the stored value, else 2 (DETERMINISTIC_THREADS).
    threads: int | None = None

    @classmethod
    def from_file(cls, path: str | os.PathLike, out: str | os.PathLike, threads: int | None = None) -> ClipSpec:
        return cls(load_config(path), Path(out), threads)


@dataclass
class FrameDone:
    """One finished frame, as handed to ``on_frame``: its index, picture and cost."""

    frame: int
    frames: int
    picture: np.ndarray
    prompts: list[Prompt]
    seconds: float
    path: Path


@dataclass
class ClipResult:
    """What a run left in ``out``; ``mp4``/``gif`` are ``None`` when it stopped before the last frame."""

    out: Path
    frames: list[Path]
    mp4: Path | None
    gif: Path | None
    #: Frames made by this call (the rest were already there) and their seconds, in order.
    made: list[int] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    #: This process's peak resident memory, bytes (``ru_maxrss``).
    peak_rss: int = 0


@dataclass
class ClipPlan:
    """A validated spec: the animation, the run config without its block, seed and threads."""

    spec: ClipSpec
    animation: Animation
    base: dict[str, Any]
    seed: int
    threads: int

    @property
    def out(self) -> Path:
        return Path(self.spec.out)

    def frame_path(self, frame: int) -> Path:
        width = max(4, len(str(self.animation.frames - 1)))
        return self.out / FRAMES_DIR / f"{frame:0{width}d}.png"

    def stored(self) -> dict[str, Any]:
        """What animation.json holds: every option that decides a frame's bytes."""
        return {"config": self.spec.config, "threads": self.threads}

    @property
    def folder(self) -> OutputFolder:
        return output_folder(self.out)

    def frame_config(self, frame: int, root: str) -> dict[str, Any]:
        """The run config of one frame: its seed, steps and prompts, and a quiet Trainer (the
        animation writes every output itself) whose folder is ``root``."""
        from dasag.run.build import QUIET_TRAINER

        a = self.animation
        prompts = [prompt_config(p) for p in a.prompts_at(frame)]
        trainer = {**QUIET_TRAINER, "max_steps": a.steps_at(frame), "default_root_dir": root}
        base = self.base if frame == 0 else deep_merge(self.base, a.later_frames)
        return deep_merge(base, {"seed_everything": self.seed + frame, "trainer": trainer, "data": {"positive_prompts": prompts},
                                 "threads": self.threads})


# ------------------------------------------------------------------ checking
def output_folder(out: str | os.PathLike) -> OutputFolder:
    """``--out`` of an animation: ``animation.json`` holds the config and threads its frames were made with."""
    return OutputFolder(out, OPTIONS_FILE, "another animation", "delete it and run again with the same config "
                        "(finished frames are kept and reused).", subfolders=(FRAMES_DIR,), files=("clip.mp4", "clip.gif"),
                        folders=(TENSORBOARD_DIR,))


def _check_out(p: ClipPlan, stored: dict[str, Any] | None) -> None:
    p.folder.check(p.stored(), "run the same config to continue it, or choose another --out")
    if stored is None and (p.out / FRAMES_DIR).exists():
        raise ConfigError(f"--out {str(p.out)!r} has a {FRAMES_DIR}/ folder but no {OPTIONS_FILE}: it is not an animation of this config; "
                          f"choose an empty or new folder.")


def plan(spec: ClipSpec, share_scorer: ShareScorer | None = None) -> ClipPlan:
    """Check everything (the block, the seed, ``out``, every keyframe's prompts against the scorer)
    and read the guide's weights; writes nothing."""
    config = copy.deepcopy(spec.config)
    block = config.pop("animation", None)
    data = config.get("data") or {}
    if data.get("prompts_file"):
        raise ConfigError("data.prompts_file cannot be used in an animation: name the prompts in animation.keyframes "
                          "(and any negative ones in data.negative_prompts).")
    animation = parse_animation(block, (config.get("trainer") or {}).get("max_steps"))
    seed = config.get("seed_everything", 0)
    check_seed(seed)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ConfigError(f"an animation needs a whole-number seed_everything (frame f uses seed + f, so a rerun gives the same frames); got {seed!r}.")
    if seed + animation.frames - 1 >= 2**32:
        raise ConfigError(f"seed_everything {seed} + frame must stay below 2**32; use a seed below {2**32 - animation.frames + 1}.")
    folder = output_folder(spec.out)
    stored = folder.stored()
    if spec.threads is not None:
        threads = check_threads(spec.threads)
    else:
        threads = check_threads((stored or {}).get("threads") or DETERMINISTIC_THREADS, f"threads in {str(folder.options_file)!r}")
    p = ClipPlan(spec, animation, config, seed, threads)
    _check_out(p, stored)
    _check_finished_frames(p)
    _check_frames(p, share_scorer)
    return p


def _check_finished_frames(p: ClipPlan) -> None:
    """Every frame already in ``frames/`` is a whole PNG (frames are written atomically, so a
    damaged one was cut short by something else: a full disk, an interrupted copy), and nothing
    else (a folder, a link that leads nowhere) sits where a frame goes. The next frame starts from
    it, so it is named now rather than failing mid-run (:func:`check_whole_png`)."""
    from dasag.core.files import check_in_place
    from dasag.image.picture import check_whole_png

    check_in_place([p.frame_path(frame) for frame in range(p.animation.frames)])
    for frame in range(p.animation.frames):
        path = p.frame_path(frame)
        if not path.is_file():
            continue
        try:
            check_whole_png(path)
        except ValueError as e:
            raise ConfigError(f"frame file {str(path)!r} is damaged ({e}): delete it and run again; "
                              f"it and the frames after it are made again.") from None


def _check_frames(p: ClipPlan, share_scorer: ShareScorer | None) -> None:
    """Build (parse and construct, no weights) the run of every keyframe's frame and of frame 1
    (later frames' step budget), so any bad key, value or prompt is one sentence now; then read
    the guide's weights, so a bad weights file is too."""
    checks = [(k.frame, f"animation.keyframes[{i}] (frame {k.frame})") for i, k in enumerate(p.animation.keyframes)]
    if p.animation.frames > 1 and all(frame != 1 for frame, _ in checks):  # later frames: their steps and later_frames settings
        checks.append((1, "frame 1 (animation.steps and later_frames)"))
    built = None
    for frame, what in checks:
        try:
            built = build_run(p.frame_config(frame, tempfile.gettempdir()), share_scorer=share_scorer)
        except ConfigError as e:
            raise ConfigError(f"{what}: {e}") from None
    try:
        for member in built.model.scorer.members:
            member.load()
    except (ValueError, OSError) as e:
        raise ConfigError(first_line(e)) from None


# ------------------------------------------------------------------ making
def _peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * (1 if sys.platform == "darwin" else 1024)


def read_picture(png: Path | bytes) -> np.ndarray:
    """A frame PNG (a file or its bytes) as (H, W, 3) uint8, exactly as stored."""
    import io

    from PIL import Image

    with Image.open(io.BytesIO(png) if isinstance(png, bytes) else png) as im:
        return np.asarray(im.convert("RGB"))


class StopFrame(Callback):
    """Ends the frame's fit after the current step once ``stop`` is set (the frame is then dropped)."""

    def __init__(self, stop: threading.Event) -> None:
        self.stop = stop

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx: int) -> None:
        if self.stop.is_set():
            trainer.should_stop = True


def make_frame(p: ClipPlan, frame: int, share_scorer: ShareScorer | None, stop: threading.Event | None = None,
               log: Callable[[str], None] = print) -> tuple[bytes, np.ndarray] | None:
    """One frame's PNG bytes and picture (``None`` when ``stop`` was set during it)."""
    from dasag.animation.camera import move
    from dasag.image.picture import from_uint8

    a = p.animation
    camera = a.camera_at(frame)
    start: dict[str, Any] | None = None
    with tempfile.TemporaryDirectory(prefix="dasag-frame-") as root:
        callbacks = [StepLog(f"frame {frame + 1} of {a.frames}", log), *([StopFrame(stop)] if stop is not None else [])]
        built = build_run(p.frame_config(frame, root), callbacks=callbacks, share_scorer=share_scorer)
        if frame > 0:
            previous = p.frame_path(frame - 1)
            before = previous.read_bytes()  # read once: the picture moved is the one whose hash is recorded
            start = {"frame": frame - 1, "sha256": hashlib.sha256(before).hexdigest()}
            picture = from_uint8(read_picture(before))
            built.model.pyramid.set_image(move(picture, camera))
        built.fit()
    if stop is not None and stop.is_set() and built.trainer.global_step < a.steps_at(frame):
        return None
    negative = list((built.run_config.get("data") or {}).get("negative_prompts") or [])
    picture = built.picture({
        "animation": {"frame": frame, "frames": a.frames, "fps": a.fps},
        "prompts": {"positive": [prompt_config(x) for x in a.prompts_at(frame)], "negative": negative},
        "camera": camera.to_json() if camera is not None else None,
        "start": start,
    })
    return picture.png(), picture.images[0]


def pending_frames(p: ClipPlan) -> list[int]:
    """Frames still to make: from the first missing one on (each frame needs the one before it)."""
    missing = next((f for f in range(p.animation.frames) if not p.frame_path(f).is_file()), None)
    return [] if missing is None else list(range(missing, p.animation.frames))


def make_clip(
    spec: ClipSpec,
    on_frame: Callable[[FrameDone], None] | None = None,
    stop: threading.Event | None = None,
    share_scorer: ShareScorer | None = None,
    log: Callable[[str], None] = print,
) -> ClipResult:
    """Make every missing frame of ``spec``, then the MP4 and the GIF; see the module.

    Args:
        on_frame: called with each finished frame (after its PNG is written): previews.
        stop: when set, the frame in progress is dropped and no clip is written; the finished
            frames stay, and the same call later continues from the first missing one.
        share_scorer: the app passes its shared scorers (weights load once per process).
        log: where the one line per frame goes.

    Raises:
        ConfigError: one sentence, before anything is loaded or written.
    """
    share = share_scorer or ScorerCache()
    p = plan(spec, share)
    with p.folder.claim(p.stored()):
        return _make_locked(p, share, on_frame, stop, log)


def _make_locked(p: ClipPlan, share: ShareScorer, on_frame, stop, log) -> ClipResult:
    result = ClipResult(p.out, [p.frame_path(f) for f in range(p.animation.frames)], None, None)
    todo = pending_frames(p)
    writer = None
    try:
        for frame in todo:
            if stop is not None and stop.is_set():
                break
            if writer is None:
                writer = _tensorboard(p.out)
            start = time.perf_counter()
            made = make_frame(p, frame, share, stop, log)
            if made is None:
                break
            png, picture = made
            write_bytes_atomic(p.frame_path(frame), png)
            seconds = time.perf_counter() - start
            result.made.append(frame)
            result.seconds.append(seconds)
            prompts = p.animation.prompts_at(frame)
            later = result.seconds[1:] if todo[0] == 0 else result.seconds  # the pace of later frames: frame 0 starts from noise
            log(f"frame {frame + 1} of {p.animation.frames} ({', '.join(f'{x.text} {x.weight:g}' for x in prompts)}): {seconds:.1f} s "
                f"({progress_text(frame + 1, p.animation.frames, later)})")
            writer.add_image("clip/frame", picture, global_step=frame, dataformats="HWC")
            writer.flush()
            if on_frame is not None:
                on_frame(FrameDone(frame, p.animation.frames, picture, prompts, seconds, p.frame_path(frame)))
    finally:
        if writer is not None:
            writer.close()
    if all(path.is_file() for path in result.frames):
        result.mp4, result.gif = write_clip(p.out, [read_picture(path) for path in result.frames], p.animation.fps)
    result.peak_rss = _peak_rss()
    return result


def _tensorboard(out: Path):
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(log_dir=str(out / TENSORBOARD_DIR))


def write_clip(out: Path, pictures: list[np.ndarray], fps: float) -> tuple[Path, Path]:
    """``clip.mp4`` and ``clip.gif`` from the frames, each written whole or not at all."""
    from dasag.animation.video import gif_bytes, mp4_bytes

    mp4 = write_bytes_atomic(out / "clip.mp4", mp4_bytes(pictures, fps))
    gif = write_bytes_atomic(out / "clip.gif", gif_bytes(pictures, fps))
    return mp4, gif
