"""The Streamlit app: form -> config mapping, errors in the page, live run, stop, and
that "copy as config" reproduces the app's image through ``cli.py``.

Runs on CPU in about a minute: every generation is 3 steps on a 128 px canvas.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch
import pytest
import yaml
from PIL import Image

pytest.importorskip("streamlit", reason="the app needs streamlit: pip install -e '.[app]'")
from streamlit.testing.v1 import AppTest  # noqa: E402

from dasag.app_settings import AppSettings, Augmentation, ScheduleSetting  # noqa: E402
from dasag.build import build_run, to_yaml  # noqa: E402
from dasag.cli import ConfigError  # noqa: E402
from dasag.images import read_metadata  # noqa: E402
from dasag.live import LiveProgress, LiveRun, SharedScorers  # noqa: E402
from dasag.schedules import Constant, ExponentialDecay, ExponentialWarmup  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
APP = str(ROOT / "dasag" / "app.py")
TINY = dict(steps=3, resolution=96, batch_size=2)


def tiny_settings(tmp_path: Path, **kw) -> AppSettings:
    return AppSettings(**{**TINY, "output_dir": str(tmp_path / "app_runs"), **kw})


# ------------------------------------------------------------------ settings -> config
def test_settings_build_through_the_cli(tmp_path: Path) -> None:
    s = tiny_settings(tmp_path, learning_rate=0.05, prompt_weight=2.0, tv_weight=0.0, interpolation="bicubic",
                      aesthetic=ScheduleSetting("exponential_decay", 0.0, 1.0, 0.06), reverse_aesthetic=True)
    s.noise.enabled = False
    built = build_run(s.to_config())  # parses and instantiates, loads no weights
    m = built.model
    assert (m.pyramid.max_size, m.pyramid.max_shift, m.pyramid.interpolation) == (128, 16, "bicubic")
    assert m.augment.batch_size == 2 and m.augment.noise_enabled is False and m.augment.jitter is None
    assert m.augment.color_shift == ExponentialWarmup(start=0.05, end=0.3, rate=0.03)
    assert m.objective.aesthetic_weight == ExponentialDecay(start=0.0, end=1.0, rate=0.06)
    assert m.objective.aesthetic_weight_at(5, 10) < 0  # reverse aesthetic flips the sign
    assert (m.objective.prompt_weight, m.objective.tv_weight) == (2.0, 0.0)
    assert m.optimizer_factory(m.pyramid.parameters()).param_groups[0]["lr"] == 0.05
    assert built.trainer.max_steps == 3 and m.scorer.members[0]._loaded is False
    assert built.run_config["data"]["positive_prompts"] == ["goldfish"]


def test_constant_schedule_and_jitter_are_written_as_numbers(tmp_path: Path) -> None:
    s = tiny_settings(tmp_path, jitter=Augmentation(True, ScheduleSetting("constant", 4.0)))
    cfg = s.to_config()
    assert cfg["model"]["augment"]["init_args"]["jitter"] == 4.0
    assert build_run(cfg).model.augment.jitter == Constant(4.0)


@pytest.mark.parametrize(
    "change, message",
    [
        ({"positive_prompts": ["  ", ""]}, "positive prompts are empty"),
        ({"steps": 0}, "steps must be a whole number of at least 1; got 0"),
        ({"learning_rate": 0.0}, "learning rate must be positive; got 0.0"),
        ({"tv_weight": -1.0}, "TV weight must be non-negative; got -1.0"),
        ({"resolution": 500}, "resolution must be one of 96, 192, 384, 768 px; got 500"),
        ({"aesthetic": ScheduleSetting("exponential_decay", 0.0, 1.0, 1.5)}, "aesthetic weight rate must be in [0, 1); got 1.5"),
    ],
)
def test_impossible_values_are_one_sentence(tmp_path: Path, change: dict, message: str) -> None:
    with pytest.raises(ConfigError) as e:
        tiny_settings(tmp_path, **change).to_config()
    assert message in str(e.value) and "\n" not in str(e.value)


def test_jitter_beyond_margin_and_unwritable_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="16 px margin"):
        tiny_settings(tmp_path, jitter=Augmentation(True, ScheduleSetting("linear", 40.0, 0.0))).to_config()
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="exists and is not a directory"):
        tiny_settings(tmp_path, output_dir=str(tmp_path / "file")).to_config()


def test_unknown_class_is_reported_before_any_weights_load(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"unknown ImageNet class 'goldfsh'.*goldfish"):
        build_run(tiny_settings(tmp_path, positive_prompts=["goldfsh"]).to_config())
    assert not (tmp_path / "app_runs").exists()  # nothing written


# ------------------------------------------------------------------ live run, stop, sharing
def test_stop_keeps_the_image_so_far_and_models_are_shared(tmp_path: Path) -> None:
    shared = SharedScorers()
    cfg = tiny_settings(tmp_path, steps=500, batch_size=1).to_config()
    progress = LiveProgress(every_n_steps=1)
    built = build_run(cfg, [progress], share_scorer=shared)
    run = LiveRun(built, progress, shared).start()
    deadline = time.monotonic() + 120
    while progress.latest is None and time.monotonic() < deadline:
        time.sleep(0.05)
    first = progress.latest
    assert first is not None and first.step >= 1 and first.image.shape == (96, 96, 3) and "positive" in first.scores
    run.stop()
    run.join(60)
    assert not run.running and run.error is None
    r = run.result
    assert r is not None and r.stopped and 1 <= r.step < 500
    assert read_metadata(r.files[0])["step"] == r.step  # final.png written for a stopped run too
    # A second run with the same scorer reuses the loaded model instead of building a new one.
    again = build_run(cfg, [LiveProgress()], share_scorer=shared)
    assert again.model.scorer.members[0] is built.model.scorer.members[0] and len(shared) == 1
    assert again.model.scorer.members[0]._loaded


# ------------------------------------------------------------------ the page (AppTest)
def new_app(tmp_path: Path) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    at.number_input(key="steps").set_value(3)
    at.selectbox(key="resolution").set_value(96)
    at.number_input(key="batch_size").set_value(2)
    at.text_input(key="output_dir").set_value(str(tmp_path / "app_runs"))
    return at


def test_page_shows_every_control(tmp_path: Path) -> None:
    at = new_app(tmp_path)
    keys = {w.key for kind in ("number_input", "selectbox", "checkbox", "text_input", "button") for w in getattr(at, kind)}
    expected = {"scorer", "resolution", "interpolation", "steps", "batch_size", "lr", "prompt_weight", "arctanh_False", "tv", "l1",
                "reverse", "aesthetic_kind", "aesthetic_start", "aesthetic_end", "aesthetic_rate", "deterministic", "seed",
                "jitter_on", "jitter_kind", "color_shift_on", "color_shift_kind", "color_shift_start", "color_shift_end",
                "color_shift_rate", "noise_on", "noise_kind", "imagenet_class", "pos_0", "pos_add", "neg_add", "generate", "stop"}
    assert expected <= keys, expected - keys
    assert at.button(key="stop").disabled  # nothing to stop yet


def test_prompt_rows_add_remove_and_imagenet_selection(tmp_path: Path) -> None:
    at = new_app(tmp_path)
    at.button(key="neg_add").click().run()
    assert at.session_state["neg_ids"] == [0]
    at.selectbox(key="imagenet_class").set_value("tench").run()
    at.button(key="add_class_pos").click().run()
    assert [at.text_input(key=f"pos_{i}").value for i in at.session_state["pos_ids"]] == ["goldfish", "tench"]
    at.button(key="pos_rm_0").click().run()
    assert [at.text_input(key=f"pos_{i}").value for i in at.session_state["pos_ids"]] == ["tench"]


@pytest.mark.parametrize(
    "prompt, message",
    [("", "positive prompts are empty"), ("goldfsh", "unknown ImageNet class 'goldfsh'. Closest class names: goldfish")],
)
def test_bad_form_input_shows_an_error_not_a_traceback(tmp_path: Path, prompt: str, message: str) -> None:
    at = new_app(tmp_path)
    at.text_input(key="pos_0").set_value(prompt)
    at.button(key="generate").click().run()
    assert not at.exception
    assert [e.value for e in at.error] and message in at.error[0].value
    assert "run" not in at.session_state and not (tmp_path / "app_runs").exists()


def test_generation_in_the_page_and_its_config_reproduces_it_through_cli(tmp_path: Path) -> None:
    at = new_app(tmp_path)
    at.button(key="generate").click().run(timeout=240)
    assert not at.exception and not at.error
    run = at.session_state["run"]
    assert run.result is not None and not run.result.stopped and run.result.step == 3
    assert any("finished: 3 steps" in h.value for h in at.subheader)
    assert {m.label for m in at.metric} >= {"positive", "negative"}
    config_yaml = at.code[0].value
    assert yaml.safe_load(config_yaml)["trainer"]["max_steps"] == 3
    path = tmp_path / "run.yaml"
    path.write_text(config_yaml)
    # Same thread count as the in-process app run: CPU conv reductions depend on it.
    env = {**os.environ, "OMP_NUM_THREADS": str(torch.get_num_threads())}
    proc = subprocess.run([sys.executable, str(ROOT / "cli.py"), "fit", "--config", str(path), "--trainer.default_root_dir", str(tmp_path / "cli")],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    final = next((tmp_path / "cli").rglob("final.png"))
    app_png = tmp_path / "app.png"
    app_png.write_bytes(run.result.png)
    assert np.array_equal(np.asarray(Image.open(final)), np.asarray(Image.open(app_png)))
    assert read_metadata(final) == read_metadata(app_png)  # same metadata as the CLI's export
    assert final.read_bytes() == run.result.png


def test_text_scorer_run_with_configured_weights(tmp_path: Path, tiny_siglip_dir: Path, tiny_v25_head: Path) -> None:
    """SigLIP + aesthetic head from local files (tiny random ones): the same code path, with scores."""
    s = tiny_settings(tmp_path, scorer="siglip", model_path=str(tiny_siglip_dir), aesthetic_head=str(tiny_v25_head),
                      positive_prompts=["a red apple"], steps=2, batch_size=1, arctanh=True,
                      aesthetic=ScheduleSetting("exponential_decay", 0.0, 1.0, 0.02))
    with pytest.raises(ConfigError, match=r"add at least one \(a text prompt\)"):
        tiny_settings(tmp_path, scorer="siglip", positive_prompts=[""]).to_config()
    progress = LiveProgress()
    run = LiveRun(build_run(s.to_config(), [progress]), progress).start()
    run.join(180)
    assert run.error is None and run.result is not None and run.result.step == 2
    assert {"positive", "negative", "aesthetic"} <= set(run.result.scores)
    assert read_metadata(run.result.files[0])["config"]["model"]["scorer"]["init_args"]["model"] == str(tiny_siglip_dir)
