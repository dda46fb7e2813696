"""Animation: a run over keyframes, frame by frame, exported as PNGs, an MP4 and a GIF.

    python -m dasag.animate --config configs/animation/daisy_to_volcano.yaml --out runs/clip
    dasag-animate --config configs/animation/daisy_to_volcano.yaml --out runs/clip   # the same, installed

The config is a normal run config (with ``base:``) plus an ``animation:`` block
(:mod:`dasag.keyframes`). Frame 0 is an ordinary run from noise. Every later frame starts
from the previous frame's saved 8-bit PNG, moved by the camera (:mod:`dasag.camera`) and put
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

import argparse
import copy
import hashlib
import json
import os
import resource
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from lightning.pytorch.callbacks import Callback

from dasag.config import ConfigError, ShareScorer, build_run, check_seed, check_writable, deep_merge, first_line, load_config, read_stored_json
from dasag.files import FolderInUse, folder_lock, remove_stale_temps, write_bytes_atomic
from dasag.keyframes import Animation, parse_animation, prompt_config
from dasag.prompts import Prompt

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
    #: depend on it: it is stored in animation.json and reused. ``None``: the stored value, else all cores.
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
class Plan:
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
        return _json({"config": self.spec.config, "threads": self.threads})

    def frame_config(self, frame: int, root: str) -> dict[str, Any]:
        """The run config of one frame: its seed, steps and prompts, and a quiet Trainer (the
        animation writes every output itself) whose folder is ``root``."""
        from dasag.quality.make import QUIET_TRAINER

        a = self.animation
        prompts = [prompt_config(p) for p in a.prompts_at(frame)]
        trainer = {**QUIET_TRAINER, "max_steps": a.steps_at(frame), "default_root_dir": root}
        base = self.base if frame == 0 else deep_merge(self.base, a.later_frames)
        return deep_merge(base, {"seed_everything": self.seed + frame, "trainer": trainer, "data": {"positive_prompts": prompts}})


# ------------------------------------------------------------------ checking
def _json(value: Any) -> Any:
    """``value`` as JSON reads it back (tuples as lists, keys as strings): what animation.json compares."""
    return json.loads(json.dumps(value, sort_keys=True, default=str))


def first_difference(stored: Any, given: Any, path: str = "") -> tuple[str, Any, Any] | None:
    """The first key path where two JSON values differ, with both values (``None``: equal)."""
    if isinstance(stored, dict) and isinstance(given, dict):
        for key in sorted(set(stored) | set(given)):
            found = first_difference(stored.get(key), given.get(key), f"{path}.{key}" if path else str(key))
            if found:
                return found
        return None
    return None if stored == given else (path, stored, given)


def _read_stored(out: Path) -> dict[str, Any] | None:
    return read_stored_json(out / OPTIONS_FILE, "delete it and run again with the same config (finished frames are kept and reused).", "config")


def _check_out(p: Plan, stored: dict[str, Any] | None) -> None:
    out = p.out
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {str(out)!r} exists and is not a directory.")
    if stored is None:
        if (out / FRAMES_DIR).exists():
            raise ConfigError(f"--out {str(out)!r} has a {FRAMES_DIR}/ folder but no {OPTIONS_FILE}: it is not an animation of this config; "
                              f"choose an empty or new folder.")
        check_writable(out, "--out")
        return
    diff = first_difference(stored, p.stored())
    if diff:
        key, was, now = diff
        raise ConfigError(f"--out {str(out)!r} holds another animation, made with {key}={was!r}; got {key}={now!r} "
                          f"(run the same config to continue it, or choose another --out).")
    check_writable(out, "--out")


def plan(spec: ClipSpec, share_scorer: ShareScorer | None = None) -> Plan:
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
    stored = _read_stored(Path(spec.out)) if Path(spec.out).is_dir() else None
    threads = spec.threads if spec.threads is not None else (stored or {}).get("threads") or (os.cpu_count() or 1)
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ConfigError(f"--threads must be a positive whole number; got {threads!r}.")
    p = Plan(spec, animation, config, seed, threads)
    _check_out(p, stored)
    _check_frames(p, share_scorer)
    return p


def _check_frames(p: Plan, share_scorer: ShareScorer | None) -> None:
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


def make_frame(p: Plan, frame: int, share_scorer: ShareScorer | None, stop: threading.Event | None = None) -> tuple[bytes, np.ndarray] | None:
    """One frame's PNG bytes and picture (``None`` when ``stop`` was set during it)."""
    from dasag.camera import move
    from dasag.images import from_uint8, png_bytes, to_uint8

    a = p.animation
    camera = a.camera_at(frame)
    start: dict[str, Any] | None = None
    with tempfile.TemporaryDirectory(prefix="dasag-frame-") as root:
        built = build_run(p.frame_config(frame, root), callbacks=[StopFrame(stop)] if stop is not None else (), share_scorer=share_scorer)
        if frame > 0:
            previous = p.frame_path(frame - 1)
            before = previous.read_bytes()  # read once: the picture moved is the one whose hash is recorded
            start = {"frame": frame - 1, "sha256": hashlib.sha256(before).hexdigest()}
            picture = from_uint8(read_picture(before))
            built.model.pyramid.set_image(move(picture, camera))
        built.fit()
    model = built.model
    if stop is not None and stop.is_set() and built.trainer.global_step < a.steps_at(frame):
        return None
    image = model.images()[0].float().cpu()
    picture = to_uint8(image)
    quantised = from_uint8(picture).unsqueeze(0)
    scores = model.evaluate(quantised.to(model.device))[0]  # what the PNG holds, not the float render
    negative = list((built.run_config.get("data") or {}).get("negative_prompts") or [])
    metadata = {
        "animation": {"frame": frame, "frames": a.frames, "fps": a.fps},
        "prompts": {"positive": [prompt_config(x) for x in a.prompts_at(frame)], "negative": negative},
        "seed": p.seed + frame,
        "step": a.steps_at(frame),
        "camera": camera.to_json() if camera is not None else None,
        "start": start,
        "scores": scores,
        "config": built.run_config,
    }
    return png_bytes(image, metadata), picture


def pending_frames(p: Plan) -> list[int]:
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
    from dasag.config import quiet_expected_warnings, quiet_lightning_banners

    quiet_lightning_banners()
    quiet_expected_warnings()
    guides: dict[str, Any] = {}
    share = share_scorer or (lambda key, fresh: guides.setdefault(key, fresh))
    p = plan(spec, share)
    try:
        with folder_lock(p.out, "--out"):
            return _make_locked(p, share, on_frame, stop, log)
    except FolderInUse as e:
        raise ConfigError(str(e)) from None


def _make_locked(p: Plan, share: ShareScorer, on_frame, stop, log) -> ClipResult:
    import torch

    for folder in (p.out, p.out / FRAMES_DIR):  # half-written files of a killed earlier run
        remove_stale_temps(folder)
    write_bytes_atomic(p.out / OPTIONS_FILE, json.dumps(p.stored(), indent=2, sort_keys=True).encode())
    result = ClipResult(p.out, [p.frame_path(f) for f in range(p.animation.frames)], None, None)
    todo = pending_frames(p)
    before = torch.get_num_threads()
    torch.set_num_threads(p.threads)
    writer = None
    try:
        for frame in todo:
            if stop is not None and stop.is_set():
                break
            if writer is None:
                writer = _tensorboard(p.out)
            start = time.perf_counter()
            made = make_frame(p, frame, share, stop)
            if made is None:
                break
            png, picture = made
            write_bytes_atomic(p.frame_path(frame), png)
            seconds = time.perf_counter() - start
            result.made.append(frame)
            result.seconds.append(seconds)
            prompts = p.animation.prompts_at(frame)
            log(f"frame {frame}/{p.animation.frames - 1} ({', '.join(f'{x.text} {x.weight:g}' for x in prompts)}): {seconds:.1f} s")
            writer.add_image("clip/frame", picture, global_step=frame, dataformats="HWC")
            writer.flush()
            if on_frame is not None:
                on_frame(FrameDone(frame, p.animation.frames, picture, prompts, seconds, p.frame_path(frame)))
    finally:
        torch.set_num_threads(before)
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
    from dasag.video import gif_bytes, mp4_bytes

    mp4 = write_bytes_atomic(out / "clip.mp4", mp4_bytes(pictures, fps))
    gif = write_bytes_atomic(out / "clip.gif", gif_bytes(pictures, fps))
    return mp4, gif


# ------------------------------------------------------------------ command line
class _Parser(argparse.ArgumentParser):
    """A bad option is one sentence (``ConfigError``), not the usage text and an exit."""

    def error(self, message: str):
        raise ConfigError(f"{message[0].upper()}{message[1:].rstrip('.')} (python -m dasag.animate --help lists the options).")


def parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m dasag.animate", description=__doc__.split("\n\n")[0])
    p.add_argument("--config", required=True, type=Path, help="a run config with an animation: block (e.g. configs/animation/daisy_to_volcano.yaml)")
    p.add_argument("--out", required=True, type=Path, help="output folder (running again into it continues the clip)")
    p.add_argument("--threads", type=int, default=None, help="CPU threads; CPU frame bytes depend on it (default: the stored run's, else all cores)")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """``dasag-animate`` / ``python -m dasag.animate``; returns the exit status."""
    from dasag.config import command_failed, quiet_loading_bars
    from dasag.speed.switches import tune_host_allocator

    quiet_loading_bars()
    tune_host_allocator()
    try:
        args = parser().parse_args(list(sys.argv[1:] if argv is None else argv))
        result = make_clip(ClipSpec.from_file(args.config, args.out, args.threads))
    except (ConfigError, ValueError, OSError) as e:
        return command_failed(e, lambda: f"every finished frame is kept in {str(args.out)!r}: free some space and run the same "
                                         f"command again to make the rest.")
    if result.made:
        later = [s for f, s in zip(result.made, result.seconds) if f > 0]
        per = f", {sum(later) / len(later):.1f} s per later frame" if later else ""
        print(f"{len(result.made)} frames made in {sum(result.seconds):.0f} s{per}; peak memory {result.peak_rss / 2**20:.0f} MiB (ru_maxrss)")
    print(f"clip in {args.out}: clip.mp4, clip.gif, frames/ and tensorboard/ (tensorboard --logdir {args.out / TENSORBOARD_DIR})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
