"""The ``animation:`` block of a config: keyframes, frame count, steps, fps and the camera.

What a clip is, checked in full before anything loads or is written: every bad value is one
sentence (:class:`~dasag.core.config.ConfigError`) naming the key and what is allowed. The block
is plain data; each frame's prompts and camera are pure functions of it
(:meth:`Animation.prompts_at`, :meth:`Animation.camera_at`), unit-tested without a model.

Between two keyframes the outgoing prompts fade out and the incoming ones fade in: every
weight is interpolated linearly by frame, a prompt named by both keyframes going from one
weight to the other, and an entry whose weight is 0 is left out. After the last keyframe its
prompts hold. A keyframe's prompts take every form ``data.positive_prompts`` takes
(:mod:`dasag.core.prompts`: ``daisy``, ``daisy:0.3``, ``{text: daisy, weight: 0.3}``, a negative
weight to push away, ``image:PATH``); one frame's prompts are a ``data.positive_prompts`` list
of ``{text, weight}`` mappings (:func:`prompt_config`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from dasag.animation.camera import Camera
from dasag.core.errors import ConfigError
from dasag.core.prompts import Prompt, parse_entry
from dasag.core.ranges import FPS, FRAMES, ROTATION, SHIFT_PX, STEPS, ZOOM, Range

#: Keys allowed in the ``animation:`` block, with what each one is.
ANIMATION_KEYS = {
    "frames": "how many frames the clip has",
    "keyframes": "a list of {frame, prompts[, camera]} in frame order, the first at frame 0",
    "steps": "ascent steps of every frame after the first",
    "first_steps": "ascent steps of frame 0, from noise (default: trainer.max_steps)",
    "fps": "frames per second of clip.mp4 and clip.gif",
    "camera": "the move from one frame to the next: {zoom, rotation, translate}",
    "later_frames": "run settings merged over the config for every frame after the first (e.g. a larger lr)",
}
KEYFRAME_KEYS = ("frame", "prompts", "camera")
CAMERA_KEYS = ("zoom", "rotation", "translate")
#: Frames per second when the block does not say.
DEFAULT_FPS = 8
#: Weights are rounded to this many decimals: readable metadata, no float noise between frames.
WEIGHT_DECIMALS = 6


def prompt_config(prompt: Prompt) -> dict[str, Any]:
    """A frame's prompt as a ``data.positive_prompts`` entry: always the mapping form, so every
    frame's list reads alike (``{text, weight}``, or ``{image, weight}`` for an image prompt)."""
    return {"image" if prompt.image else "text": prompt.text, "weight": prompt.weight}


@dataclass(frozen=True)
class Keyframe:
    frame: int
    prompts: tuple[Prompt, ...]
    #: The move from this keyframe on (``None``: the one before it holds).
    camera: Camera | None = None


@dataclass(frozen=True)
class Animation:
    """A validated ``animation:`` block (build it with :func:`parse_animation`)."""

    frames: int
    keyframes: tuple[Keyframe, ...]
    steps: int
    first_steps: int
    fps: float = DEFAULT_FPS
    camera: Camera = field(default_factory=Camera)
    #: Config settings merged over the run config for frames 1, 2, ...: they start from a picture,
    #: not from noise, and repaint it in a few steps (see docs/animation.md for why a larger lr).
    later_frames: dict[str, Any] = field(default_factory=dict)

    def prompts_at(self, frame: int) -> list[Prompt]:
        """The frame's prompts: the keyframes around it blended linearly by frame (see the module)."""
        keys = self.keyframes
        after = next((i for i, k in enumerate(keys) if k.frame > frame), None)
        if after is None:  # at or past the last keyframe: it holds
            return [p for p in keys[-1].prompts if p.weight != 0]
        before, nxt = keys[after - 1], keys[after]
        t = (frame - before.frame) / (nxt.frame - before.frame)
        old = {(p.text, p.image): p.weight for p in before.prompts}
        new = {(p.text, p.image): p.weight for p in nxt.prompts}
        names = list(old) + [name for name in new if name not in old]  # outgoing first, then incoming
        weights = {name: round((1 - t) * old.get(name, 0.0) + t * new.get(name, 0.0), WEIGHT_DECIMALS) for name in names}
        return [Prompt(text, weights[(text, image)], image) for text, image in names if weights[(text, image)] != 0]

    def camera_at(self, frame: int) -> Camera | None:
        """The move that turns frame ``frame - 1`` into frame ``frame``'s start (``None`` at frame 0):
        the camera of the last keyframe at or before the frame that names one, else the block's."""
        if frame == 0:
            return None
        named = [k.camera for k in self.keyframes if k.frame <= frame and k.camera is not None]
        return named[-1] if named else self.camera

    def steps_at(self, frame: int) -> int:
        return self.first_steps if frame == 0 else self.steps


# ------------------------------------------------------------------ parsing
def _within(value: Any, allowed: Range, key: str, hint: str = "") -> Any:
    """``value`` if ``allowed`` holds it, else the one sentence naming ``key`` and the range."""
    try:
        return allowed.check(value, key, hint)
    except ValueError as e:
        raise ConfigError(str(e)) from None


def _mapping(value: Any, key: str, allowed: tuple[str, ...] | dict[str, str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ConfigError(f"{key} must be a mapping with keys {', '.join(allowed)}; got {value!r}.")
    unknown = [k for k in value if k not in allowed]
    if unknown:
        raise ConfigError(f"{key} has unknown key {unknown[0]!r}; allowed: {', '.join(allowed)}.")
    return value


def parse_camera(value: Any, key: str) -> Camera:
    """A ``{zoom, rotation, translate}`` mapping (each optional) as a :class:`Camera`."""
    value = _mapping(value, key, CAMERA_KEYS)
    zoom = _within(value.get("zoom", 1.0), ZOOM, f"{key}.zoom", "per frame: 1 keeps the size, 1.02 zooms in 2 %, 0.98 out")
    rotation = float(_within(value.get("rotation", 0.0), ROTATION, f"{key}.rotation", "degrees per frame"))
    translate = value.get("translate", [0.0, 0.0])
    if not isinstance(translate, (list, tuple)) or len(translate) != 2:
        raise ConfigError(f"{key}.translate must be two numbers [right, down] in px per frame; got {translate!r}.")
    dx, dy = (float(_within(t, SHIFT_PX, f"{key}.translate", "px per frame")) for t in translate)
    return Camera(float(zoom), rotation, (dx, dy))


def _keyframe(value: Any, i: int, frames: int) -> Keyframe:
    key = f"animation.keyframes[{i}]"
    value = _mapping(value, key, KEYFRAME_KEYS)
    if "frame" not in value or "prompts" not in value:
        raise ConfigError(f"{key} must name its frame and its prompts, e.g. {{frame: 0, prompts: [daisy]}}.")
    frame = _within(value["frame"], Range(0, FRAMES.high - 1, whole=True), f"{key}.frame")
    if frame >= frames:
        raise ConfigError(f"{key}.frame is {frame}, past the last frame ({frames - 1}: animation.frames is {frames}).")
    prompts = value["prompts"]
    if not isinstance(prompts, list) or not prompts:
        raise ConfigError(f"{key}.prompts must be a non-empty list of prompts; got {prompts!r}.")
    try:
        parsed = tuple(p for j, entry in enumerate(prompts) for p in parse_entry(entry, f"{key}.prompts[{j}]"))
    except ValueError as e:
        raise ConfigError(str(e)) from None
    names = [(p.text, p.image) for p in parsed]
    twice = next((n for n in names if names.count(n) > 1), None)
    if twice is not None:
        raise ConfigError(f"{key}.prompts names {twice[0]!r} twice; name each prompt once with its weight.")
    if all(p.weight == 0 for p in parsed):
        raise ConfigError(f"{key}.prompts all have weight 0; give at least one a non-zero weight.")
    camera = parse_camera(value["camera"], f"{key}.camera") if "camera" in value else None
    return Keyframe(frame, parsed, camera)


def parse_animation(block: Any, max_steps: Any = None) -> Animation:
    """The ``animation:`` block as an :class:`Animation`; ``max_steps`` (the config's
    ``trainer.max_steps``) is frame 0's budget unless the block sets ``first_steps``."""
    if block is None:
        raise ConfigError("the config has no animation block; add animation: {frames, keyframes, steps} (see docs/animation.md).")
    block = _mapping(block, "animation", ANIMATION_KEYS)
    for required in ("frames", "keyframes", "steps"):
        if required not in block:
            raise ConfigError(f"animation.{required} is missing: {ANIMATION_KEYS[required]}.")
    frames = _within(block["frames"], FRAMES, "animation.frames")
    steps = _within(block["steps"], STEPS, "animation.steps")
    first = block.get("first_steps", max_steps)
    if first is None:
        raise ConfigError("animation.first_steps is missing and the config has no trainer.max_steps: say how many steps frame 0 takes.")
    first_steps = _within(first, STEPS, "animation.first_steps" if "first_steps" in block else "trainer.max_steps")
    fps = _within(block.get("fps", DEFAULT_FPS), FPS, "animation.fps", "frames per second")
    camera = parse_camera(block["camera"], "animation.camera") if "camera" in block else Camera()
    raw = block["keyframes"]
    if not isinstance(raw, list) or not raw:
        raise ConfigError("animation.keyframes must be a non-empty list of {frame, prompts}, the first at frame 0.")
    keyframes = tuple(_keyframe(k, i, frames) for i, k in enumerate(raw))
    if keyframes[0].frame != 0:
        raise ConfigError(f"animation.keyframes must start at frame 0 (frame 0 needs prompts); the first is at frame {keyframes[0].frame}.")
    for i, (a, b) in enumerate(zip(keyframes, keyframes[1:]), start=1):
        if b.frame == a.frame:
            raise ConfigError(f"animation.keyframes[{i}] repeats frame {b.frame}; each keyframe needs its own frame.")
        if b.frame < a.frame:
            raise ConfigError(f"animation.keyframes must be in frame order; keyframes[{i}] (frame {b.frame}) comes after frame {a.frame}.")
    later = block.get("later_frames") or {}
    if not isinstance(later, dict):
        raise ConfigError(f"animation.later_frames must be a mapping of run settings (like the config's own, e.g. model: ...); got {later!r}.")
    banned = [k for k in ("animation", "base", "seed_everything") if k in later]
    if banned:
        raise ConfigError(f"animation.later_frames cannot set {banned[0]} (frame f's seed is seed_everything + f); set run settings such as model or trainer.")
    animation = Animation(frames, keyframes, steps, first_steps, float(fps), camera, later)
    empty = next((f for f in range(frames) if not animation.prompts_at(f)), None)
    if empty is not None:
        raise ConfigError(f"animation.keyframes blend to no prompt at frame {empty} (every weight is 0 there); change a weight so that frame keeps one.")
    return animation
