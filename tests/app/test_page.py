"""The Streamlit page (``AppTest``): every control, prompt rows, errors in the page, a live run,
that "copy as config" reproduces the page's image through ``cli.py``, and what the server's settings
(handed over by ``dasag app`` as the script's arguments) allow: the folder field inside the output
root, the caps, the password gate."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from dasag.app.page import OTHER_SCORER
from dasag.app.settings import AppSettings
from dasag.image.picture import read_metadata
from dasag.scorers import registry

pytest.importorskip("streamlit", reason="the page needs streamlit: pip install -e '.[app]'")
from streamlit.testing.v1 import AppTest  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
APP = str(ROOT / "dasag" / "app" / "page.py")


@pytest.fixture(autouse=True)
def served_from(monkeypatch, tmp_path: Path):
    """The script's arguments as ``dasag app`` hands them over (``streamlit run page.py -- ...``): the output
    root in the test's folder; a test adds options with ``served_from(...)``. No password unless set."""
    monkeypatch.delenv("DASAG_APP_PASSWORD", raising=False)

    def serve(*options: str) -> None:
        monkeypatch.setattr(sys, "argv", [APP, "--out-root", str(tmp_path / "app_runs"), *options])

    serve()
    return serve


def new_app(tmp_path: Path) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception, at.exception
    at.number_input(key="steps").set_value(3)
    at.selectbox(key="resolution").set_value(96)
    at.number_input(key="batch_size").set_value(2)
    return at


def test_page_shows_every_control(tmp_path: Path, tiny_weights_env) -> None:
    at = new_app(tmp_path)
    labels = [registry.get(n).label for n in ("lite0", "lite1", "lite2", "siglip", "clip")]
    assert at.selectbox(key="scorer").options[:5] == labels  # configured: listed
    keys = {w.key for kind in ("number_input", "selectbox", "checkbox", "text_input", "button", "slider") for w in getattr(at, kind)}
    expected = {"scorer", "resolution", "interpolation", "steps", "batch_size", "lr", "prompt_weight", "tv", "l1", "deterministic", "seed", "random_seed",
                "jitter_on", "jitter_kind", "color_shift_on", "color_shift_kind", "color_shift_start", "color_shift_end",
                "color_shift_rate", "noise_on", "noise_kind", "imagenet_class", "pos_0", "pos_add", "neg_add", "generate", "stop",
                "robust_recipe", "sharing_recipe"}
    assert expected <= keys, expected - keys
    text_only = {"arctanh", "reverse", "aesthetic_kind", "aesthetic_start"}
    assert not text_only & keys  # a classifier has no bounded similarity and no aesthetic head: no controls for them
    at.selectbox(key="scorer").set_value("siglip").run()
    keys = {w.key for kind in ("number_input", "selectbox", "checkbox", "text_input", "button", "slider") for w in getattr(at, kind)}
    assert text_only <= keys, text_only - keys
    at.selectbox(key="scorer").set_value("lite0").run()
    assert at.button(key="stop").disabled  # nothing to stop yet
    assert at.checkbox(key="robust_recipe").value is True  # on, as in the demo
    assert at.checkbox(key="sharing_recipe").value is True  # on, as in the demo


def test_the_scorer_list_holds_what_loads_here_and_any_name_can_be_typed(tmp_path: Path, monkeypatch) -> None:
    """Offline with no weights configured: the shipped classifiers, then a field for any registry name,
    which says what is wrong with a name under itself."""
    for name in ("SIGLIP_MODEL_PATH", "CLIP_MODEL_PATH", "AESTHETIC_PREDICTOR_MODEL_PATH", "CLIP_AESTHETIC_PREDICTOR_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.chdir(tmp_path)  # no .env of the checkout
    at = new_app(tmp_path)
    options = at.selectbox(key="scorer").options
    assert options == [registry.get(n).label for n in ("lite0", "lite1", "lite2")] + [OTHER_SCORER]
    at.selectbox(key="scorer").set_value(OTHER_SCORER).run()
    at.text_input(key="scorer_name").set_value("lite7").run()
    assert any(e.value.startswith("unknown scorer 'lite7' (closest: lite") for e in at.error), [e.value for e in at.error]


def test_tv_and_l1_controls_have_the_original_apps_ranges(tmp_path: Path) -> None:
    """DAS-AG v2's sliders: TV weight 10^x for x in -8..0 (default -8), L1 weight 0..0.5 in steps of 0.05."""
    at = new_app(tmp_path)
    tv, l1 = at.slider(key="tv"), at.slider(key="l1")
    assert (tv.min, tv.max, tv.step, tv.value) == (-8, 0, 1, -8)
    assert (l1.min, l1.max, l1.step, l1.value) == (0.0, 0.5, 0.05, 0.0)


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


def test_a_bad_output_folder_is_said_as_it_is_typed(tmp_path: Path) -> None:
    """Under the field, before Generate: a way out of the server's folder (``..``, an absolute path, a
    link), a name that is not a plain folder name, a file; gone once fixed; nothing made anywhere."""
    at = new_app(tmp_path)
    at.run()
    assert not at.error
    (tmp_path / "app_runs").mkdir()
    (tmp_path / "app_runs" / "a_file").write_text("x")
    (tmp_path / "outside").mkdir()
    (tmp_path / "app_runs" / "escape").symlink_to(tmp_path / "outside")
    for folder, words in (("../x", "leads out of the server's folder"), (str(tmp_path / "x"), "is a path of its own"),
                          ("escape", "is a link that leads out of the server's folder"), ("a/b", "is not a plain folder name"),
                          ("a_file", "exists and is not a directory")):
        at.text_input(key="output_dir").set_value(folder).run()
        assert [e.value for e in at.error] and words in at.error[0].value and "\n" not in at.error[0].value, folder
        at.button(key="generate").click().run()  # Generate refuses it too, whatever the browser let through
        assert "run" not in at.session_state and any(words in e.value for e in at.error), folder
    at.text_input(key="output_dir").set_value("mine").run()
    assert not at.error and not (tmp_path / "app_runs" / "mine").exists()  # checked, not created
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app_runs", "outside"] and not list((tmp_path / "outside").iterdir())


def test_bounded_inputs_say_their_range() -> None:
    """Streamlit's red border on an out-of-range number carries no words: each bounded input's help does."""
    from dasag.app.page import allowed

    assert allowed("steps", 1, 10000) == "1 to 10000 steps."
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    for key, words in (("steps", "1 to 1000 steps"), ("batch_size", "1 to 32"), ("seed", "0 to 4294967295")):
        assert words in at.number_input(key=key).help, key


def test_the_servers_caps_bound_the_inputs_and_generate_holds_them(tmp_path: Path, served_from) -> None:
    """``dasag app --max-steps 5 --max-size 192 --max-copies 4 --max-frames 3``: the inputs stop there, the
    canvas list ends at 192; a value past a cap that reaches the server anyway is one sentence, no run."""
    served_from("--max-steps", "5", "--max-size", "192", "--max-copies", "4", "--max-frames", "3")
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception
    assert at.number_input(key="steps").max == 5 and at.number_input(key="batch_size").max == 4
    assert at.selectbox(key="resolution").options == ["96", "192"]
    assert at.number_input(key="clip_frames").max == 3 and at.number_input(key="clip_steps").max == 5
    from dasag.app.serving import ServerSettings

    server = ServerSettings.from_argv(sys.argv[1:])
    with pytest.raises(Exception, match="at most 5 steps a run"):  # what Generate says if a browser sends 6
        server.admit(replace(AppSettings(), steps=6, output_dir=""))


def test_too_little_free_space_is_said_at_generate_and_nothing_runs(tmp_path: Path, served_from) -> None:
    served_from("--min-free-mb", str(10**9))
    at = new_app(tmp_path)
    at.button(key="generate").click().run()
    assert not at.exception and "run" not in at.session_state
    assert any("MB is free on the disk of" in e.value and "--min-free-mb" in e.value for e in at.error)
    at.button(key="clip_make").click().run()
    assert "clip" not in at.session_state and any("MB is free on the disk of" in e.value for e in at.error)
    assert not (tmp_path / "app_runs").exists()


def test_a_password_shows_nothing_but_its_field_until_given(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("DASAG_APP_PASSWORD", "open sesame 42")
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert not at.exception

    def only_the_password_field() -> bool:
        return ([w.label for w in at.text_input] == ["Password"] and [b.label for b in at.button] == ["Open"] and not at.title
                and not at.sidebar.children and not (at.number_input or at.selectbox or at.checkbox or at.slider or at.markdown))

    assert only_the_password_field()
    at.text_input[0].input("open sesame 4")
    at.button[0].click().run()
    assert [e.value for e in at.error] == ["Wrong password."] and only_the_password_field()  # still locked: the sentence is all that changed
    at.text_input[0].input("open sesame 42")
    at.button[0].click().run()
    assert not at.error and not at.exception and at.title[0].value.startswith("Direct Ascent Synthesis")
    assert at.button(key="generate") is not None and at.session_state["unlocked"]


def test_a_page_served_to_the_network_names_no_file_and_no_hub_model(tmp_path: Path, served_from) -> None:
    """``dasag app --listen --no-password``: the scorer list holds only what loads here (no field for any
    name, no model or head path), and an image prompt, a path on the server, is refused at Generate."""
    served_from("--listen", "0.0.0.0", "--no-password")
    at = new_app(tmp_path)
    from dasag.app.page import OTHER_SCORER

    assert OTHER_SCORER not in at.selectbox(key="scorer").options
    keys = {w.key for w in at.text_input}
    assert not {"model_path", "aesthetic_head", "scorer_name"} & keys
    at.text_input(key="pos_0").set_value("image:/etc/hosts")
    at.button(key="generate").click().run()
    assert "run" not in at.session_state and any("image prompts read a file of the server" in e.value for e in at.error)


def test_plain_streamlit_run_and_a_wide_page_without_password_show_only_why(tmp_path: Path, monkeypatch) -> None:
    from dasag.app.page import server_settings
    from dasag.core.errors import ConfigError

    with pytest.raises(ConfigError, match="Start this page with `dasag app`"):
        server_settings([APP])  # streamlit run dasag/app/page.py: no hand-over
    with pytest.raises(ConfigError, match="served to the network without a password"):
        server_settings([APP, "--out-root", str(tmp_path), "--listen", "0.0.0.0"])
    monkeypatch.setattr(sys, "argv", [APP])
    at = AppTest.from_file(APP, default_timeout=60)
    at.run()
    assert [e.value for e in at.error][0].startswith("Start this page with `dasag app`") and not at.button and not at.text_input
    assert server_settings(["pytest"]).out_root == Path("runs/app").absolute()  # run by another program (AppTest): the defaults


@pytest.mark.slow
def test_generation_in_the_page_and_its_config_reproduces_it_through_cli(tmp_path: Path) -> None:
    at = new_app(tmp_path)
    at.checkbox(key="random_seed").check()  # a fresh seed: shown, and in the config and the PNG
    at.button(key="generate").click().run(timeout=240)
    run = at.session_state["run"]
    run.join(240)  # the page does not block on a run: its live panel redraws itself (a fragment)
    at.run(timeout=60)
    assert not at.exception and not at.error
    seed = at.session_state["run_seed"]
    assert yaml.safe_load(at.code[0].value)["seed_everything"] == seed
    assert any(m.label == "seed" and m.value == str(seed) for m in at.metric)
    (tmp_path / "seeded.png").write_bytes(run.result.png)
    assert read_metadata(tmp_path / "seeded.png")["seed"] == seed
    assert run.result is not None and not run.result.stopped and run.result.step == 3
    assert any("finished: 3 steps" in h.value for h in at.subheader)
    assert not at.button(key="generate").disabled and at.button(key="stop").disabled  # the run ended: Generate again, nothing to stop
    # The classifier in words: p(goldfish) and its top-5, not "lite0/positive -0.06".
    from dasag.app.page import probability_text

    readout, held_out = run.result.classes
    assert readout.scorer == "lite0" and readout.guided and readout.positive[0][0] == "goldfish" and len(readout.top) == 5
    # beside the guide's belief, a classifier that did not guide the picture: the reading that says something
    assert held_out.scorer == "lite2" and not held_out.guided and held_out.positive[0][0] == "goldfish"
    assert next(m for m in at.metric if m.label == "p(goldfish) · lite2 (held out, did not guide)").value == probability_text(held_out.positive[0][1])
    p_goldfish = next(m for m in at.metric if m.label == "p(goldfish) · lite0 (guide)")
    assert p_goldfish.value == probability_text(readout.positive[0][1])
    assert probability_text(0.9412) == "0.94" and probability_text(0.00043) == "0.0004"
    assert not any(m.label.startswith("lite0/") for m in at.metric)
    tables = [t.value for t in at.table]  # the held-out one first
    assert list(tables[0]["class"]) == [name for name, _ in held_out.top] and list(tables[1]["class"]) == [name for name, _ in readout.top]
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
    # A bad output folder afterwards: one line, before any run starts, and the finished result stays on screen.
    (tmp_path / "app_runs" / "a_file").write_text("x")
    at.text_input(key="output_dir").set_value("a_file")
    at.button(key="generate").click().run(timeout=60)
    assert at.session_state["run"] is run and not at.exception
    assert any("exists and is not a directory" in e.value for e in at.error)
    assert any("finished: 3 steps" in h.value for h in at.subheader)  # the previous good result is not lost
    at.text_input(key="output_dir").set_value("").run(timeout=60)
    assert not at.error  # the error went with its cause


def test_the_progress_line_says_scores_in_words_with_elapsed_and_time_left() -> None:
    from dasag.app.page import progress_text

    line = progress_text(12, 60, 1.5, {"lite0/positive": -0.25, "siglip/aesthetic": 5.0}, elapsed=24.0, seconds_left=96.0)
    assert line == "step 12/60 · loss 1.5000 · lite0: prompt score -0.2500 · siglip: aesthetic score 5.0000 · 24 s, about 2 min left"
    assert progress_text(0, 60, None, {}) == "step 0/60"
    assert progress_text(1, 60, None, {}, elapsed=13.0) == "step 1/60 · 13 s"  # no pace yet: no guess
