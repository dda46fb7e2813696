"""``dasag app``: starts the Streamlit page; refuses options that are neither its own nor Streamlit's."""

from __future__ import annotations

import pytest

from dasag.commands import app


def test_only_streamlits_own_options_are_passed_on(capsys, monkeypatch):
    started = []
    monkeypatch.setattr(app.subprocess, "call", lambda argv: started.append(argv) or 0)
    assert app.main(["--server.port", "8600", "--server.headless=true"]) == 0
    assert started and started[0][1:4] == ["-m", "streamlit", "run"] and started[0][-3:] == ["--server.port", "8600", "--server.headless=true"]
    assert started[0][4].endswith("app/page.py")
    assert app.main(["--port", "8600"]) == 2
    assert "--port is not an option of dasag app" in capsys.readouterr().err


def test_without_streamlit_the_sentence_names_the_extra(capsys, monkeypatch):
    monkeypatch.setattr(app.importlib.util, "find_spec", lambda name: None)
    assert app.main([]) == 2
    assert capsys.readouterr().err.strip() == 'error: the app needs Streamlit, which is not installed: pip install "dasag[app]".'


@pytest.mark.parametrize("flag", ["-h", "--help"])
def test_help_says_how_to_start_it(flag, capsys):
    assert app.main([flag]) == 0
    assert "dasag app --server.port 8600" in capsys.readouterr().out
