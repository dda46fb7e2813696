"""End to end in a real headless Chromium: ``streamlit run`` on localhost, Playwright drives it.

A short generation with the embedded EfficientNet-Lite0 scorer must end with the final
image and the reproducing config on the page; a long one must show live progress and stop
on the Stop button, keeping its image. Screenshots go to the test's tmp dir. The server and
the browser are bounded in time and always killed.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
if CHROMIUM is None:
    pytest.skip("Chromium is not installed (apt-get install -y chromium; see .ci/app-deps.sh)", allow_module_level=True)
pytest.importorskip("streamlit", reason="the app needs streamlit: pip install -e '.[app]'")
sync_api = pytest.importorskip("playwright.sync_api", reason="the browser test needs playwright: pip install playwright")

APP = Path(__file__).resolve().parents[2] / "dasag" / "app" / "page.py"
CHROME_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path: Path):
    """``streamlit run dasag/app/page.py`` headless on a free port; yields its URL; killed after."""
    port = free_port()
    log = open(tmp_path / "streamlit.log", "w")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "STREAMLIT_BROWSER_GATHER_USAGE_STATS": "false"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "streamlit", "run", str(APP), "--server.headless", "true", "--server.port", str(port),
         "--server.address", "127.0.0.1", "--server.fileWatcherType", "none", "--browser.gatherUsageStats", "false"],
        cwd=tmp_path, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while True:
            try:
                if urllib.request.urlopen(f"{url}/_stcore/health", timeout=2).read().strip() == b"ok":
                    break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"streamlit did not start: {(tmp_path / 'streamlit.log').read_text()[-2000:]}")
            time.sleep(0.5)
        yield url
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait(10)
        log.close()


@pytest.fixture
def page(server: str):
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROME_ARGS, timeout=60_000)
        try:
            pg = browser.new_page(viewport={"width": 1400, "height": 2000})
            pg.set_default_timeout(60_000)
            pg.goto(server)
            pg.get_by_role("button", name="Generate").wait_for()
            yield pg
        finally:
            browser.close()


def set_number(page, label: str, value: int) -> None:
    box = page.get_by_label(label, exact=True)
    box.fill(str(value))
    box.press("Enter")


def choose(page, label: str, option: str) -> None:
    page.get_by_role("combobox", name=label, exact=True).click()
    page.get_by_role("option", name=option, exact=True).click()


def setup_tiny(page, steps: int) -> None:
    choose(page, "Resolution (px)", "96")
    set_number(page, "Batch size (augmented copies)", 2)
    set_number(page, "Refresh image every N steps", 1)
    set_number(page, "Steps", steps)
    page.wait_for_timeout(1000)  # let the last widget value reach the server


def test_generate_shows_final_image_and_config(page, tmp_path: Path) -> None:
    setup_tiny(page, steps=3)
    page.get_by_role("button", name="Generate").click()
    page.get_by_text("Result (finished: 3 steps)").wait_for(timeout=240_000)
    img = page.locator('[data-testid="stImage"] img').first
    img.wait_for()
    assert page.evaluate("(el) => el.naturalWidth", img.element_handle()) == 96
    assert "max_steps: 3" in page.locator('[data-testid="stCode"]').inner_text()
    page.get_by_role("button", name="Download PNG").wait_for()
    assert not page.locator('[data-testid="stException"]').count()
    page.screenshot(path=str(tmp_path / "app_final.png"), full_page=True)
    assert (tmp_path / "app_final.png").stat().st_size > 10_000


def test_live_progress_then_stop_keeps_image(page, tmp_path: Path) -> None:
    setup_tiny(page, steps=5000)
    page.get_by_role("button", name="Generate").click()
    page.get_by_text(re.compile(r"step \d+/5000 · loss")).first.wait_for(timeout=240_000)
    page.locator('[data-testid="stImage"] img').first.wait_for()  # the current image, before the end
    page.screenshot(path=str(tmp_path / "app_live.png"), full_page=True)
    stop = page.get_by_test_id("stMainBlockContainer").get_by_role("button", name="Stop")
    assert stop.is_enabled()
    stop.click()
    page.get_by_text(re.compile(r"Result \(stopped at step \d+ of 5000\)")).wait_for(timeout=120_000)
    page.get_by_role("button", name="Download PNG").wait_for()
    page.screenshot(path=str(tmp_path / "app_stopped.png"), full_page=True)


def test_make_a_clip_shows_frames_then_the_gif(page, tmp_path: Path) -> None:
    setup_tiny(page, steps=3)
    page.get_by_text("Make a clip").click()
    set_number(page, "Frames", 2)
    set_number(page, "Steps per later frame", 2)
    page.wait_for_timeout(1000)
    page.get_by_role("button", name="Make clip").click()
    page.get_by_text("Clip finished: 2 frames").wait_for(timeout=240_000)
    gif = page.locator('[data-testid="stImage"] img').last
    gif.wait_for()
    assert page.evaluate("(el) => el.naturalWidth", gif.element_handle()) == 96
    page.get_by_role("button", name="Download GIF").wait_for()
    page.get_by_role("button", name="Download MP4").wait_for()
    assert not page.locator('[data-testid="stException"]').count() and not page.get_by_text("The clip failed").count()
    page.screenshot(path=str(tmp_path / "app_clip.png"), full_page=True)
    files = list(tmp_path.glob("runs/app/clips/*/clip.gif"))
    assert len(files) == 1
    from PIL import Image

    with Image.open(files[0]) as clip:
        assert clip.n_frames == 2


def test_two_tabs_never_share_a_run_and_a_closed_tabs_run_frees_the_model(server: str, tmp_path: Path) -> None:
    """Two browser contexts at once (two people, or two tabs): B sees nothing of A's run (no image,
    no enabled Stop); A's tab closes mid-run, its run ends after its current step, and B's own run
    then gets the shared model and finishes instead of waiting for ever."""
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROME_ARGS, timeout=60_000)
        try:
            tabs = []
            for _ in range(2):
                context = browser.new_context(viewport={"width": 1400, "height": 2000})
                tab = context.new_page()
                tab.set_default_timeout(60_000)
                tab.goto(server)
                tab.get_by_role("button", name="Generate").wait_for()
                tabs.append((context, tab))
            (context_a, a), (_, b) = tabs
            setup_tiny(a, steps=5000)
            a.get_by_role("button", name="Generate").click()
            a.get_by_text(re.compile(r"step \d+/5000 · loss")).first.wait_for(timeout=240_000)
            b.wait_for_timeout(2000)
            assert not b.locator('[data-testid="stImage"]').count()  # none of A's pictures
            assert b.get_by_role("button", name="Generate").is_enabled()
            assert not b.get_by_test_id("stMainBlockContainer").get_by_role("button", name="Stop").is_enabled()
            context_a.close()  # the tab that pressed Generate is gone
            setup_tiny(b, steps=3)
            b.get_by_role("button", name="Generate").click()
            b.get_by_text("Result (finished: 3 steps)").wait_for(timeout=180_000)
            b.screenshot(path=str(tmp_path / "app_second_tab.png"), full_page=True)
        finally:
            browser.close()
