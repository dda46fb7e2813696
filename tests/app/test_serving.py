"""What a server allows: the output root and the folder field, the caps, the free disk space, the
password, and the hand-over from ``dasag app`` to the page. No Streamlit, no model."""

from __future__ import annotations

import os
import re
import time
from argparse import Namespace
from pathlib import Path

import pytest

from dasag.app.serving import MIN_PASSWORD_LENGTH, PASSWORD_VARIABLE, ServerSettings, check_address, is_local
from dasag.app.settings import AppSettings
from dasag.core.errors import ConfigError


def root_of(tmp_path: Path, **kw) -> ServerSettings:
    return ServerSettings(out_root=tmp_path / "root", **kw).check()


# ------------------------------------------------------------------ the folder field
@pytest.mark.parametrize("name, words", [
    ("../x", "leads out of the server's folder"),
    ("..", "leads out of the server's folder"),
    ("a/../../x", "leads out of the server's folder"),
    ("/tmp/x", "is a path of its own"),
    ("~/x", "is a path of its own"),
    ("a/b", "is not a plain folder name"),
    (".hidden", "is not a plain folder name"),
    ("a\nb", "is not a plain folder name"),
    ("x" * 65, "is not a plain folder name"),
])
def test_a_folder_outside_the_root_or_not_a_plain_name_is_one_sentence(tmp_path: Path, name: str, words: str) -> None:
    server = root_of(tmp_path)
    with pytest.raises(ConfigError, match=words) as e:
        server.folder(name)
    assert "\n" not in str(e.value).replace(repr(name), "") and str(e.value).endswith("or leave it empty.")
    assert not (tmp_path / "root").exists() and not (tmp_path / "x").exists()  # checked, nothing made


def test_a_link_out_of_the_root_is_refused_and_one_inside_is_taken(tmp_path: Path) -> None:
    server = root_of(tmp_path)
    outside = tmp_path / "outside"
    outside.mkdir()
    (tmp_path / "root" / "inner").mkdir(parents=True)
    (tmp_path / "root" / "escape").symlink_to(outside)
    (tmp_path / "root" / "alias").symlink_to(tmp_path / "root" / "inner")
    with pytest.raises(ConfigError, match="'escape' is a link that leads out of the server's folder"):
        server.folder("escape")
    assert server.folder("alias") == tmp_path / "root" / "alias"
    assert server.folder("") == server.folder("  ") == tmp_path / "root"  # empty: the root itself
    assert server.folder("my_pictures.v2") == tmp_path / "root" / "my_pictures.v2"
    assert list(outside.iterdir()) == []


def test_a_file_where_the_folder_goes_is_said(tmp_path: Path) -> None:
    server = root_of(tmp_path)
    (tmp_path / "root").mkdir()
    (tmp_path / "root" / "taken").write_text("x")
    with pytest.raises(ConfigError, match="exists and is not a directory"):
        server.folder("taken")


def test_every_run_the_page_admits_writes_under_the_root(tmp_path: Path) -> None:
    server = root_of(tmp_path, min_free_mb=0)
    admitted = server.admit(AppSettings(steps=3, resolution=96, batch_size=2, output_dir="mine"))
    assert admitted.output_dir == str(tmp_path / "root" / "mine")
    assert admitted.to_config()["trainer"]["default_root_dir"] == str(tmp_path / "root" / "mine")
    with pytest.raises(ConfigError, match="leads out"):
        server.admit(AppSettings(output_dir="../elsewhere"))


# ------------------------------------------------------------------ caps and the disk
@pytest.mark.parametrize("field, value, words", [
    ("steps", 11, "at most 10 steps a run (dasag app --max-steps); got 11"),
    ("resolution", 256, "at most 192 px (dasag app --max-size); got 256"),
    ("batch_size", 5, "at most 4 copies a step (dasag app --max-copies); got 5"),
])
def test_the_caps_hold_whatever_the_page_sends(tmp_path: Path, field: str, value: int, words: str) -> None:
    server = root_of(tmp_path, max_steps=10, max_size=192, max_copies=4, min_free_mb=0)
    ok = AppSettings(steps=10, resolution=192, batch_size=4)
    server.check_run(ok)
    with pytest.raises(ConfigError, match=re.escape(words)):
        server.admit(AppSettings(**{**dict(steps=10, resolution=192, batch_size=4, output_dir=""), field: value}))
    assert server.canvases() == [96, 192]


def test_a_clip_stays_within_frames_and_steps(tmp_path: Path) -> None:
    server = root_of(tmp_path, max_steps=10, max_frames=3)
    server.check_clip(3, 10)
    with pytest.raises(ConfigError, match="at most 3 frames"):
        server.check_clip(4, 10)
    with pytest.raises(ConfigError, match="at most 10 steps a frame"):
        server.check_clip(3, 11)


def test_too_little_free_space_is_refused_before_a_run(tmp_path: Path) -> None:
    server = root_of(tmp_path, min_free_mb=10**9)
    with pytest.raises(ConfigError, match=r"MB is free on the disk of .*root, and a run needs 1,000,000,000 MB free \(dasag app --min-free-mb\)"):
        server.admit(AppSettings(steps=3, resolution=96, batch_size=2, output_dir=""))
    root_of(tmp_path, min_free_mb=0).check_free_space()


def test_a_served_page_reads_no_file_and_downloads_nothing_for_a_visitor(tmp_path: Path) -> None:
    served = root_of(tmp_path, listen="0.0.0.0", open_access=True, min_free_mb=0)
    local = root_of(tmp_path, min_free_mb=0)
    for settings, words in (
        (AppSettings(scorer="siglip", model_path="/somewhere/model"), "reads no model file a visitor names"),
        (AppSettings(scorer="siglip", aesthetic_head="/etc/passwd"), "reads no model file a visitor names"),
        (AppSettings(scorer="timm:resnet50.a1_in1k"), "has no weights on this server, which downloads nothing"),
        (AppSettings(positive_prompts=["goldfish", "image:/etc/hosts:0.5"]), "image prompts read a file of the server"),
    ):
        with pytest.raises(ConfigError, match=words):
            served.check_run(settings)
        local.check_run(settings)  # the owner, on their own machine, may
    served.check_run(AppSettings(steps=3))


# ------------------------------------------------------------------ who may reach it
def test_local_by_default_and_addresses(tmp_path: Path) -> None:
    assert ServerSettings().address == "127.0.0.1" and not ServerSettings().served
    assert is_local("127.0.0.1") and is_local("::1") and is_local("localhost") and is_local("127.0.0.2")
    assert not is_local("0.0.0.0") and not is_local("::") and not is_local("192.168.1.5")
    assert check_address("0.0.0.0") == "0.0.0.0" and check_address("my-host.lan") == "my-host.lan"
    for bad in ("8600", "a b", "http://x", ""):
        with pytest.raises(ConfigError, match="--listen takes an IP address"):
            check_address(bad)


def test_the_password_is_compared_whole_and_a_wrong_one_costs_time(tmp_path: Path) -> None:
    server = ServerSettings(password="correct horse")
    assert server.locked and not ServerSettings().locked
    assert server.password_matches("correct horse")
    began = time.monotonic()
    assert not server.password_matches("correct hors")
    assert not server.password_matches("correct horse ")
    assert not server.password_matches("")
    assert time.monotonic() - began >= 2.5  # three wrong guesses, about a second each (a floor, not a pace)
    assert "correct horse" not in repr(server)


@pytest.mark.parametrize("kw, words", [
    (dict(open_access=True), "--no-password only means something with --listen"),
    (dict(listen="0.0.0.0", open_access=True, password="longenough"), f"--no-password and {PASSWORD_VARIABLE} contradict"),
    (dict(password="short"), f"{PASSWORD_VARIABLE} has 5 characters; a password needs at least {MIN_PASSWORD_LENGTH}"),
])
def test_settings_a_server_cannot_start_with(tmp_path: Path, kw: dict, words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        ServerSettings(out_root=tmp_path, **kw).check()


def test_an_unwritable_root_is_refused(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="--out-root .* exists and is not a directory"):
        ServerSettings(out_root=tmp_path / "file").check()


# ------------------------------------------------------------------ the hand-over
def test_the_page_reads_back_what_dasag_app_handed_over(tmp_path: Path) -> None:
    server = ServerSettings(out_root=tmp_path / "r", max_steps=7, max_size=384, max_copies=3, max_frames=5, runs_at_once=2,
                            min_free_mb=0, listen="0.0.0.0", password="never on a command line").check()
    argv = server.to_argv()
    assert "never on a command line" not in " ".join(argv)
    back = ServerSettings.from_argv(argv, password="never on a command line").check()
    assert back == server and back.served and back.locked
    assert ServerSettings.from_argv(ServerSettings().check().to_argv()).listen is None
    open_one = ServerSettings(out_root=tmp_path, listen="0.0.0.0", open_access=True).check()
    assert ServerSettings.from_argv(open_one.to_argv()).open_access


@pytest.mark.parametrize("option, value, words", [
    ("max_steps", "0", "--max-steps must be a whole number from 1 to 1000000; got '0'"),
    ("max_steps", "ten", "--max-steps must be a whole number"),
    ("max_size", "1024", "--max-size must be a whole number from 96 to 768; got '1024'"),
    ("max_copies", "1.5", "--max-copies must be a whole number"),
    ("max_frames", "-1", "--max-frames must be a whole number"),
    ("runs_at_once", "0", "--runs-at-once must be a whole number from 1 to 64"),
    ("min_free_mb", "lots", "--min-free-mb must be a whole number"),
    ("out_root", " ", "--out-root is empty"),
])
def test_each_bad_option_value_is_one_sentence(option: str, value: str, words: str) -> None:
    options = Namespace(**{name: None for name in ("out_root", "max_steps", "max_size", "max_copies", "max_frames", "runs_at_once",
                                                   "min_free_mb", "listen")}, no_password=False)
    setattr(options, option, value)
    with pytest.raises(ConfigError, match=words):
        ServerSettings.from_options(options)


def test_visitor_can_says_the_caps_and_the_root(tmp_path: Path) -> None:
    text = root_of(tmp_path, max_steps=200, max_size=384, max_copies=8, max_frames=12).visitor_can()
    for words in ("at most 200 steps", "384 px", "8 copies a step", "12 frames", "one run or clip at a time", str(tmp_path / "root")):
        assert words in text, words
    assert os.sep in text
