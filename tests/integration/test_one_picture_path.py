"""One picture, whichever way it was made: ``dasag fit``, ``dasag.generate``, a batch row, an animation's
first frame, a growth run's first stage and the app's run all save the same 8-bit pixels with the
same scores under the same keys, because all of them go through :func:`dasag.run.picture.finished_picture`."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from PIL import Image

from dasag.core.config import CONFIGS, deep_merge, load_config

#: The demo at a size a test can afford: 64 px canvas, 2 copies, 3 steps, seed 5, a fixed thread count.
TINY = {"seed_everything": 5, "threads": 2,
        "model": {"pyramid": {"init_args": {"max_size": 64, "max_shift": 8}}, "augment": {"init_args": {"batch_size": 2}},
                  "scorer": {"init_args": {"input_size": 64}}},
        "trainer": {"max_steps": 3, "deterministic": True}}


def read(png: bytes | Path) -> tuple[np.ndarray, dict]:
    with Image.open(io.BytesIO(png) if isinstance(png, bytes) else png) as im:
        return np.asarray(im.convert("RGB")), json.loads(im.text["dasag"])


@pytest.fixture(scope="module")
def config_file(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("config")
    path = folder / "tiny.yaml"
    path.write_text(yaml.safe_dump(deep_merge(load_config(CONFIGS / "demo.yaml"), TINY)))
    return path


@pytest.fixture(scope="module")
def by_fit(config_file, tmp_path_factory) -> tuple[np.ndarray, dict]:
    from dasag.commands import main

    root = tmp_path_factory.mktemp("fit")
    assert main(["fit", "--config", str(config_file), "--trainer.default_root_dir", str(root)]) == 0
    return read(next(root.rglob("final.png")))


@pytest.mark.slow
def test_generate_saves_what_fit_saves(by_fit, config_file):
    import dasag

    pixels, meta = read(dasag.generate(["goldfish"], config=config_file, seed=5).png())
    assert np.array_equal(pixels, by_fit[0]) and meta["scores"] == by_fit[1]["scores"]


@pytest.mark.slow
def test_a_batch_row_saves_what_fit_saves(by_fit, config_file, tmp_path):
    from dasag.batch.rows_file import run_batch

    rows = tmp_path / "rows.csv"
    rows.write_text("prompt,seed\ngoldfish,5\n")
    table = run_batch(rows, config_file, tmp_path / "out", threads=2)
    pixels, meta = read(tmp_path / "out" / "images" / f"{table['file_hash'][0]}.png")
    assert np.array_equal(pixels, by_fit[0]) and meta["scores"] == by_fit[1]["scores"]
    assert float(table["lite0/positive"][0]) == by_fit[1]["scores"]["lite0/positive"]


@pytest.mark.slow
def test_an_animations_first_frame_saves_what_fit_saves(by_fit, config_file, tmp_path):
    from dasag.animation.animate import ClipSpec, make_clip

    config = load_config(config_file)
    config["animation"] = {"frames": 1, "steps": 1, "keyframes": [{"frame": 0, "prompts": ["goldfish"]}]}
    result = make_clip(ClipSpec(config, tmp_path / "clip", threads=2), log=lambda line: None)
    pixels, meta = read(result.frames[0])
    assert np.array_equal(pixels, by_fit[0]) and meta["scores"] == by_fit[1]["scores"]


@pytest.mark.slow
def test_a_growth_runs_first_stage_saves_what_fit_saves(by_fit, config_file, tmp_path):
    from dasag.growth.grow import prepare, run

    config = load_config(config_file)
    config["growth"] = {"sizes": [48, 96], "steps": [3, 1]}
    grown = tmp_path / "growth.yaml"
    grown.write_text(yaml.safe_dump(config))
    g = prepare(grown, tmp_path / "out", threads=2)
    run(g, log=lambda line: None)
    pixels, meta = read(tmp_path / "out" / f"{g.stages[0].name}.png")
    assert np.array_equal(pixels, by_fit[0]) and meta["scores"] == by_fit[1]["scores"]


@pytest.mark.slow
def test_the_apps_run_saves_what_fit_saves(by_fit, config_file, tmp_path):
    from dasag.app.image_run import LiveProgress, LiveRun
    from dasag.run.build import build_run

    config = deep_merge(load_config(config_file), {"trainer": {"default_root_dir": str(tmp_path)}})
    progress = LiveProgress(every_n_steps=1)
    live = LiveRun(build_run(config, [progress]), progress).start()
    live.join()
    pixels, meta = read(live.result.png)
    assert live.error is None and np.array_equal(pixels, by_fit[0]) and meta["scores"] == by_fit[1]["scores"]
    assert progress.latest.scores == by_fit[1]["scores"]  # the last snapshot is the saved picture's scores too
