"""The animation block: the keyframe blend, the camera per frame, and one sentence for each bad value."""

from __future__ import annotations

import pytest

from dasag.animation.camera import Camera
from dasag.animation.keyframes import parse_animation, prompt_config
from dasag.core.errors import ConfigError
from dasag.core.prompts import Prompt
from dasag.run.data import PromptSet


def block(**changes):
    base = {"frames": 9, "steps": 3, "first_steps": 5, "keyframes": [{"frame": 0, "prompts": ["daisy"]}, {"frame": 4, "prompts": ["volcano:2"]}]}
    return {**base, **changes}


def weights(animation, frame):
    return {p.text: p.weight for p in animation.prompts_at(frame)}


def test_weights_at_between_and_after_keyframes():
    a = parse_animation(block())
    assert weights(a, 0) == {"daisy": 1.0}  # at a keyframe: its own prompts
    assert weights(a, 1) == {"daisy": 0.75, "volcano": 0.5}  # a quarter of the way: daisy fades out, volcano fades in to 2
    assert weights(a, 2) == {"daisy": 0.5, "volcano": 1.0}
    assert weights(a, 4) == {"volcano": 2.0}  # at the next keyframe the outgoing prompt is gone (weight 0 dropped)
    assert weights(a, 8) == weights(a, 4)  # after the last keyframe its prompts hold
    assert [p.text for p in a.prompts_at(1)] == ["daisy", "volcano"]  # outgoing first, then incoming


def test_a_prompt_in_both_keyframes_goes_from_one_weight_to_the_other_and_negatives_blend_too():
    a = parse_animation(block(keyframes=[{"frame": 0, "prompts": ["sky:2", "lava:-1"]}, {"frame": 2, "prompts": [{"text": "sky", "weight": 4}]}]))
    assert weights(a, 1) == {"sky": 3.0, "lava": -0.5}
    assert weights(a, 2) == {"sky": 4.0}


def test_a_frames_prompts_are_a_valid_data_list_with_their_weights():
    a = parse_animation(block())
    entries = [prompt_config(p) for p in a.prompts_at(1)]
    assert entries == [{"text": "daisy", "weight": 0.75}, {"text": "volcano", "weight": 0.5}]
    parsed = PromptSet.parse(entries)
    assert parsed.positive == ("daisy", "volcano") and parsed.positive_weights == (0.75, 0.5)


def test_keyframes_accept_every_prompt_form_of_the_data_lists():
    a = parse_animation(block(keyframes=[{"frame": 0, "prompts": ["daisy | tulip:0.5", 985]}]))
    assert a.prompts_at(3) == [Prompt("daisy"), Prompt("tulip", 0.5), Prompt("985")]


def test_camera_per_frame_holds_from_the_keyframe_that_names_one():
    a = parse_animation(block(camera={"zoom": 1.02}, keyframes=[
        {"frame": 0, "prompts": ["daisy"]},
        {"frame": 3, "prompts": ["daisy"], "camera": {"rotation": 2, "translate": [1, -1]}},
        {"frame": 6, "prompts": ["volcano"]},
    ]))
    assert a.camera_at(0) is None  # frame 0 starts from noise
    assert a.camera_at(1) == a.camera_at(2) == Camera(zoom=1.02)
    assert a.camera_at(3) == a.camera_at(8) == Camera(1.0, 2.0, (1.0, -1.0))


def test_steps_defaults_and_the_later_frames_settings():
    plain = {k: v for k, v in block(later_frames={"model": {"pyramid": {"init_args": {"contrast": 0.5}}}}).items() if k != "first_steps"}
    a = parse_animation(plain, max_steps=40)
    assert (a.steps_at(0), a.steps_at(1), a.fps) == (40, 3, 8.0)
    assert a.later_frames["model"]["pyramid"]["init_args"]["contrast"] == 0.5
    assert parse_animation(block(first_steps=7, fps=12.5), max_steps=40).steps_at(0) == 7


KEYS = [{"frame": 0, "prompts": ["daisy"]}]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"keyframes": [{"frame": 0, "prompts": ["a"]}, {"frame": 5, "prompts": ["b"]}, {"frame": 3, "prompts": ["c"]}]},
         r"must be in frame order; keyframes\[2\] \(frame 3\) comes after frame 5"),
        ({"keyframes": [{"frame": 0, "prompts": ["a"]}, {"frame": 0, "prompts": ["b"]}]}, r"keyframes\[1\] repeats frame 0"),
        ({"keyframes": [{"frame": 0, "prompts": ["a"]}, {"frame": 9, "prompts": ["b"]}]}, r"frame is 9, past the last frame \(8"),
        ({"keyframes": [{"frame": 2, "prompts": ["a"]}]}, "must start at frame 0"),
        ({"keyframes": []}, "non-empty list"),
        ({"keyframes": [{"frame": 0}]}, "must name its frame and its prompts"),
        ({"keyframes": [{"frame": 0, "prompts": ["a"], "zoom": 2}]}, r"keyframes\[0\] has unknown key 'zoom'; allowed: frame, prompts, camera"),
        ({"keyframes": [{"frame": 0, "prompts": ["a", "a:2"]}]}, "names 'a' twice"),
        ({"keyframes": [{"frame": 0, "prompts": ["a:0"]}]}, "all have weight 0"),
        ({"keyframes": [{"frame": 0, "prompts": ["a:lots"]}]}, r"keyframes\[0\]\.prompts\[0\]: the weight after the last ':'"),
        ({"keyframes": [{"frame": -1, "prompts": ["a"]}]}, "frame must be a whole number from 0 to 99999; got -1"),
        ({"keyframes": [{"frame": 0, "prompts": ["a:1"]}, {"frame": 2, "prompts": ["a:-1"]}]}, "blend to no prompt at frame 1"),
        ({"frames": 0, "keyframes": KEYS}, "animation.frames must be a whole number from 1 to 100000; got 0"),
        ({"steps": -2}, "animation.steps must be a whole number from 1 to 1000000; got -2"),
        ({"first_steps": 0}, "animation.first_steps must be a whole number from 1 to 1000000"),
        ({"fps": 0}, r"animation.fps must be a number from 0.01 to 100 \(frames per second\); got 0\."),
        ({"fps": 0.001}, "animation.fps must be a number from 0.01 to 100"),
        ({"fps": 1e6}, "animation.fps must be a number from 0.01 to 100"),
        ({"frames": 10**9, "keyframes": KEYS}, "animation.frames must be a whole number from 1 to 100000; got 1000000000"),
        ({"frames": 1e9, "keyframes": KEYS}, "animation.frames must be a whole number"),
        ({"camera": {"zoom": 1e-300}}, "animation.camera.zoom must be a number from 0.5 to 2 .per frame"),
        ({"camera": {"translate": [1e300, 0]}}, r"animation.camera.translate must be a number from -4096 to 4096 \(px per frame\); got 1e\+300"),
        ({"camera": {"rotation": 1e9}}, "animation.camera.rotation must be a number from -180 to 180"),
        ({"keyframes": [{"frame": 0, "prompts": ["a:1e308"]}]}, r"keyframes\[0\]\.prompts\[0\]: a prompt weight must be a number from -1000 to 1000"),
        ({"keyframes": [{"frame": 0, "prompts": [{"text": "a", "weight": 1e308}]}]}, "a prompt weight must be a number from -1000 to 1000"),
        ({"fps": "fast"}, "animation.fps must be a number from 0.01 to 100"),
        ({"camera": {"zoom": 0}}, "animation.camera.zoom must be a number from 0.5 to 2"),
        ({"camera": {"zoom": "in"}}, "animation.camera.zoom must be a number from 0.5 to 2"),
        ({"camera": {"zoom": True}}, "animation.camera.zoom must be a number from 0.5 to 2"),
        ({"camera": {"pan": 3}}, "animation.camera has unknown key 'pan'; allowed: zoom, rotation, translate"),
        ({"camera": {"translate": [1]}}, r"translate must be two numbers \[right, down\]"),
        ({"speed": 2}, "animation has unknown key 'speed'; allowed: frames, keyframes, steps"),
        ({"later_frames": {"seed_everything": 3}}, "later_frames cannot set seed_everything"),
        ({"later_frames": [1]}, "later_frames must be a mapping"),
    ],
)
def test_bad_values_are_one_sentence(changes, message):
    with pytest.raises(ConfigError, match=message) as e:
        parse_animation(block(**changes), max_steps=10)
    assert "\n" not in str(e.value)


def test_missing_block_and_missing_keys():
    with pytest.raises(ConfigError, match="has no animation block"):
        parse_animation(None)
    with pytest.raises(ConfigError, match="animation.steps is missing"):
        parse_animation({"frames": 3, "keyframes": KEYS})
    with pytest.raises(ConfigError, match="first_steps is missing and the config has no trainer.max_steps"):
        parse_animation({"frames": 3, "steps": 2, "keyframes": KEYS})
