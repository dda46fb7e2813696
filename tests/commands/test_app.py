"""``dasag app``: local by default, serving wider only when asked (then behind a password, said in one
line), Streamlit's usage statistics off, the page's server settings handed over after ``--``, and
every bad option one sentence before Streamlit starts."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from dasag.app.serving import PASSWORD_VARIABLE, ServerSettings
from dasag.commands import app


@pytest.fixture
def started(monkeypatch, tmp_path: Path):
    """``subprocess.call`` replaced: what would have started (argv, environment); the test runs in ``tmp_path``."""
    calls: list[tuple[list[str], dict[str, str]]] = []
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(PASSWORD_VARIABLE, raising=False)
    monkeypatch.setattr(app.subprocess, "call", lambda argv, env=None: calls.append((argv, env)) or 0)
    return calls


def option(argv: list[str], name: str) -> str | None:
    """The value given to ``name`` before ``--`` (the page's own arguments come after)."""
    head = argv[: argv.index("--")]
    return head[head.index(name) + 1] if name in head else None


def page_settings(argv: list[str], env: dict[str, str]) -> ServerSettings:
    return ServerSettings.from_argv(argv[argv.index("--") + 1:], env.get(PASSWORD_VARIABLE))


def test_local_by_default_with_usage_statistics_off(started, capsys, tmp_path: Path) -> None:
    assert app.main(["--server.port", "8600", "--server.headless=true"]) == 0
    (argv, env), = started
    assert argv[1:4] == ["-m", "streamlit", "run"] and argv[4].endswith("app/page.py")
    assert option(argv, "--server.address") == "127.0.0.1"
    assert option(argv, "--browser.gatherUsageStats") == "false" and option(argv, "--server.showEmailPrompt") == "false"
    assert option(argv, "--server.port") == "8600" and "--server.headless=true" in argv[: argv.index("--")]
    assert option(argv, "--client.toolbarMode") == "minimal"  # no Deploy button, no developer menu
    server = page_settings(argv, env)
    assert server == ServerSettings(out_root=tmp_path / "runs" / "app") and not server.served and not server.locked
    assert PASSWORD_VARIABLE not in env
    out = capsys.readouterr().out
    assert out.strip() == f"dasag app: this machine only (127.0.0.1); every run and clip is written under {tmp_path / 'runs' / 'app'}."
    assert not (tmp_path / "runs").exists()  # the root is made by the first run, not by starting


def test_listen_serves_the_network_behind_a_made_password_and_says_what_a_visitor_can_do(started, capsys, tmp_path: Path) -> None:
    assert app.main(["--listen", "--max-steps", "200", "--out-root", "pictures"]) == 0
    (argv, env), = started
    assert option(argv, "--server.address") == "0.0.0.0"
    assert option(argv, "--browser.serverAddress") == socket.gethostname()  # no look-up of a public address on checkip.amazonaws.com
    assert option(argv, "--client.showErrorDetails") == "type"  # no traceback of the server for a visitor
    made = env[PASSWORD_VARIABLE]
    assert len(made) >= 16 and made not in " ".join(argv)  # never on a command line
    server = page_settings(argv, env)
    assert server.served and server.locked and server.max_steps == 200 and server.out_root == tmp_path / "pictures"
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("dasag app: reachable from the network on 0.0.0.0 (every interface): a visitor who gives the password can make")
    assert "at most 200 steps" in lines[0] and str(tmp_path / "pictures") in lines[0]
    assert lines[1] == f"dasag app: password: {made} (made for this server; set {PASSWORD_VARIABLE} to choose one)"


def test_a_password_of_ones_own_is_kept_and_not_printed(started, capsys, monkeypatch) -> None:
    monkeypatch.setenv(PASSWORD_VARIABLE, "my own long password")
    assert app.main(["--server.address", "192.168.1.5"]) == 0  # streamlit's own word for --listen
    (argv, env), = started
    assert option(argv, "--server.address") == "192.168.1.5" and argv[: argv.index("--")].count("--server.address") == 1
    assert option(argv, "--browser.serverAddress") is None  # a specific address is printed as it is
    assert env[PASSWORD_VARIABLE] == "my own long password" and "my own long password" not in capsys.readouterr().out


def test_no_password_is_a_loud_line(started, capsys) -> None:
    assert app.main(["--listen", "0.0.0.0", "--no-password"]) == 0
    (argv, env), = started
    assert PASSWORD_VARIABLE not in env and page_settings(argv, env).open_access
    out = capsys.readouterr().out
    assert out.startswith("dasag app: WARNING: reachable from the network on 0.0.0.0 (every interface) WITHOUT A PASSWORD (--no-password): anyone")


def test_a_local_address_is_still_local(started, capsys) -> None:
    assert app.main(["--listen", "127.0.0.1"]) == 0
    (argv, env), = started
    assert not page_settings(argv, env).served and PASSWORD_VARIABLE not in env
    assert "this machine only" in capsys.readouterr().out


@pytest.mark.parametrize("argv, words", [
    (["--port", "8600"], "--port is not an option of dasag app"),
    (["stray"], "stray is not an option of dasag app"),
    (["--max"], "--max is not an option of dasag app"),  # no abbreviations
    (["--max-steps", "0"], "--max-steps must be a whole number from 1 to 1000000; got '0'."),
    (["--max-steps", "5", "--max-steps", "6"], "--max-steps is given more than once; give it once."),
    (["--max-size", "1024"], "--max-size must be a whole number from 96 to 768; got '1024'."),
    (["--max-copies", "many"], "--max-copies must be a whole number from 1 to 4096; got 'many'."),
    (["--runs-at-once", "0"], "--runs-at-once must be a whole number from 1 to 64; got '0'."),
    (["--out-root"], "argument --out-root: expected one argument"),
    (["--listen", "not an address"], "--listen takes an IP address of this machine"),
    (["--server.address", "a b"], "--server.address takes an IP address of this machine"),
    (["--listen", "0.0.0.0", "--server.address", "0.0.0.0"], "--listen and --server.address both name the address"),
    (["--server.address", "::", "--server.address=0.0.0.0"], "--server.address is given more than once"),
    (["--no-password"], "--no-password only means something with --listen"),
    (["--browser.gatherUsageStats", "true"], "--browser.gatherUsageStats cannot be set: dasag app keeps Streamlit's usage statistics off"),
    (["--server.showEmailPrompt=true"], "--server.showEmailPrompt cannot be set"),
    (["--server.port"], "--server.port needs a value"),
])
def test_each_bad_option_is_one_sentence_before_streamlit_starts(started, capsys, tmp_path: Path, argv: list[str], words: str) -> None:
    assert app.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and words in err and "\n" not in err and "Traceback" not in err
    assert started == [] and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("env_password, argv, words", [
    ("short", [], f"{PASSWORD_VARIABLE} has 5 characters; a password needs at least 8."),
    ("long enough pw", ["--listen", "--no-password"], f"--no-password and {PASSWORD_VARIABLE} contradict each other"),
])
def test_a_bad_password_setting_is_one_sentence(started, capsys, monkeypatch, env_password: str, argv: list[str], words: str) -> None:
    monkeypatch.setenv(PASSWORD_VARIABLE, env_password)
    assert app.main(argv) == 2
    assert words in capsys.readouterr().err and started == []


def test_an_out_root_that_is_a_file_is_refused(started, capsys, tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("x")
    assert app.main(["--out-root", "taken"]) == 2
    assert "--out-root 'taken' exists and is not a directory" in capsys.readouterr().err and started == []


def test_without_streamlit_the_sentence_names_the_extra(capsys, monkeypatch):
    monkeypatch.setattr(app.importlib.util, "find_spec", lambda name: None)
    assert app.main([]) == 2
    assert capsys.readouterr().err.strip() == 'error: the app needs Streamlit, which is not installed: pip install "dasag[app]".'


@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_help_says_how_to_start_it(flag, capsys):
    assert app.main([flag]) == 0
    out = capsys.readouterr().out
    for words in ("dasag app --server.port 8600", "--listen [ADDRESS]", "--out-root DIR", "--max-steps N", PASSWORD_VARIABLE):
        assert words in out, words


@pytest.mark.slow
def test_a_real_server_listens_on_127_0_0_1_and_tells_its_page_no_usage_statistics(tmp_path: Path) -> None:
    """``dasag app`` as a fresh clone starts it, with Streamlit's own environment asking for the opposite
    (``STREAMLIT_SERVER_ADDRESS=0.0.0.0``, ``STREAMLIT_BROWSER_GATHER_USAGE_STATS=true``): the command line
    outranks it. Read from outside: the listening socket, and the settings a connecting page is sent."""
    pytest.importorskip("streamlit", reason="the app needs streamlit: pip install -e '.[app]'")
    pytest.importorskip("websockets", reason="reading the page's settings needs websockets (a dependency of streamlit >= 1.50)")
    from app_server import listening_addresses, running_app, session_config

    env = {"STREAMLIT_SERVER_ADDRESS": "0.0.0.0", "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "true"}
    with running_app(tmp_path, env=env) as served:
        assert listening_addresses(served.port) == {"127.0.0.1"}
        config = session_config(served)
        assert config.gather_usage_stats is False
        out = served.output()
    assert "Collecting usage statistics" not in out and "Welcome to Streamlit" not in out and "External URL" not in out
    assert "URL: http://127.0.0.1:" in out and "this machine only (127.0.0.1)" in out
