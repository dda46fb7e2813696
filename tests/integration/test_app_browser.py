"""End to end in a real headless Chromium: ``dasag app`` started as a user starts it, Playwright drives it.

A short generation with the embedded EfficientNet-Lite0 scorer must end with the final
image and the reproducing config on the page; a long one must show live progress and stop
on the Stop button, keeping its image. The server is this machine's alone unless told otherwise,
its page calls nothing but the server, the folder field cannot lead out of the output root, and a
password shows nothing but its field until it is given. Screenshots go to the test's tmp dir. The
server and the browser are bounded in time and always killed.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from app_server import listening_addresses, running_app, session_config

pytestmark = [pytest.mark.browser, pytest.mark.slow]

CHROMIUM = shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)
if CHROMIUM is None:
    pytest.skip("Chromium is not installed (apt-get install -y chromium; see .ci/app-deps.sh)", allow_module_level=True)
pytest.importorskip("streamlit", reason="the app needs streamlit: pip install -e '.[app]'")
sync_api = pytest.importorskip("playwright.sync_api", reason="the browser test needs playwright: pip install playwright")

#: The longest wait for a run's progress or end: a bound for a stuck run, far above a run's time on 2
#: CPU cores shared by several test runs (a 3-step run took 228 s of a test under load 8 there).
RUN_MS = 900_000
CHROME_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture
def server(tmp_path: Path):
    """``dasag app`` with its defaults (output root runs/app under the test's folder) on a free port; yields its URL."""
    with running_app(tmp_path) as app:
        yield app.url


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
    page.get_by_text("Result (finished: 3 steps)").wait_for(timeout=RUN_MS)
    img = page.locator('[data-testid="stImage"] img').first
    img.wait_for()
    assert page.evaluate("(el) => el.naturalWidth", img.element_handle()) == 96
    assert "max_steps: 3" in page.locator('[data-testid="stCode"]').inner_text()
    page.get_by_role("button", name="Download PNG").wait_for()
    assert not page.locator('[data-testid="stException"]').count()
    page.screenshot(path=str(tmp_path / "app_final.png"), full_page=True)
    assert (tmp_path / "app_final.png").stat().st_size > 10_000


def test_live_progress_then_stop_keeps_image(page, tmp_path: Path) -> None:
    setup_tiny(page, steps=1000)  # the server's cap on steps (dasag app --max-steps)
    page.get_by_role("button", name="Generate").click()
    page.get_by_text(re.compile(r"step \d+/1000 · loss")).first.wait_for(timeout=RUN_MS)
    page.locator('[data-testid="stImage"] img').first.wait_for()  # the current image, before the end
    page.screenshot(path=str(tmp_path / "app_live.png"), full_page=True)
    stop = page.get_by_test_id("stMainBlockContainer").get_by_role("button", name="Stop")
    assert stop.is_enabled()
    stop.click()
    page.get_by_text(re.compile(r"Result \(stopped at step \d+ of 1000\)")).wait_for(timeout=RUN_MS)
    page.get_by_role("button", name="Download PNG").wait_for()
    page.screenshot(path=str(tmp_path / "app_stopped.png"), full_page=True)


def test_make_a_clip_shows_frames_then_the_gif(page, tmp_path: Path) -> None:
    setup_tiny(page, steps=3)
    page.get_by_text("Make a clip").click()
    set_number(page, "Frames", 2)
    set_number(page, "Steps per later frame", 2)
    page.wait_for_timeout(1000)
    page.get_by_role("button", name="Make clip").click()
    page.get_by_text("Clip finished: 2 frames").wait_for(timeout=RUN_MS)
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
    no enabled Stop); B's own run waits its turn, its place shown (one run at a time per server); A's
    tab closes mid-run, its run ends after its current step, and B's run then starts and finishes
    instead of waiting for ever."""
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
            setup_tiny(a, steps=1000)
            a.get_by_role("button", name="Generate").click()
            a.get_by_text(re.compile(r"step \d+/1000 · loss")).first.wait_for(timeout=RUN_MS)
            b.wait_for_timeout(2000)
            assert not b.locator('[data-testid="stImage"]').count()  # none of A's pictures
            assert b.get_by_role("button", name="Generate").is_enabled()
            assert not b.get_by_test_id("stMainBlockContainer").get_by_role("button", name="Stop").is_enabled()
            setup_tiny(b, steps=3)
            b.get_by_role("button", name="Generate").click()
            b.get_by_text("waiting for its turn: next in line (this server makes one picture or clip at a time)").wait_for(timeout=60_000)
            context_a.close()  # the tab that pressed Generate is gone
            b.get_by_text("Result (finished: 3 steps)").wait_for(timeout=RUN_MS)
            b.screenshot(path=str(tmp_path / "app_second_tab.png"), full_page=True)
        finally:
            browser.close()


def test_a_default_server_is_this_machines_alone_and_its_page_calls_nowhere_else(tmp_path: Path) -> None:
    """``dasag app`` with no address: its socket listens on 127.0.0.1 only; the page the browser loads asks
    nothing of any other host (no usage statistics, no fonts or scripts from elsewhere), and the settings its
    session is sent have usage statistics off, even with Streamlit's own environment asking for them."""
    pytest.importorskip("websockets", reason="reading the page's settings needs websockets (a dependency of streamlit >= 1.50)")
    with running_app(tmp_path, env={"STREAMLIT_BROWSER_GATHER_USAGE_STATS": "true"}) as app:
        assert listening_addresses(app.port) == {"127.0.0.1"}
        asked: list[str] = []
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROME_ARGS, timeout=60_000)
            try:
                pg = browser.new_page(viewport={"width": 1400, "height": 2000})
                pg.set_default_timeout(60_000)
                pg.on("request", lambda request: asked.append(request.url))
                pg.goto(app.url)
                pg.get_by_role("button", name="Generate").wait_for()
                pg.wait_for_timeout(3000)  # whatever the page fetches after it is drawn
            finally:
                browser.close()
        assert session_config(app).gather_usage_stats is False
    hosts = {re.match(r"[a-z]+://([^/]+)", url).group(1) for url in asked if not url.startswith(("data:", "blob:"))}
    assert asked and hosts == {f"127.0.0.1:{app.port}"}, hosts


def test_the_folder_field_cannot_lead_out_of_the_output_root(page, tmp_path: Path) -> None:
    """``../x``, an absolute path and a link out of the root: one sentence under the field, Generate refuses
    it, and nothing is made outside the root (runs/app under the test's folder)."""
    root = tmp_path / "runs" / "app"
    root.mkdir(parents=True, exist_ok=True)
    (tmp_path / "outside").mkdir()
    (root / "escape").symlink_to(tmp_path / "outside")
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    field = page.get_by_label("Output folder", exact=True)
    for folder, words in (("../x", "leads out of the server's folder"), (str(tmp_path / "abs"), "is a path of its own"),
                          ("escape", "is a link that leads out of the server's folder")):
        field.fill(folder)
        field.press("Enter")
        sidebar = page.get_by_test_id("stSidebar")
        sidebar.get_by_text(re.compile(re.escape(f"Folder {folder!r} {words}"))).wait_for(timeout=60_000)
        page.get_by_role("button", name="Generate").click()
        page.get_by_test_id("stMainBlockContainer").get_by_text(re.compile(re.escape(words))).first.wait_for(timeout=60_000)
        assert not page.locator('[data-testid="stException"]').count()
    page.screenshot(path=str(tmp_path / "app_folder_refused.png"), full_page=True)
    after = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if p.name != "app_folder_refused.png")
    assert after == before and not list((tmp_path / "outside").iterdir()) and not (tmp_path / "x").exists() and not (tmp_path / "abs").exists()


def test_a_password_shows_no_control_until_the_right_one_is_given(tmp_path: Path) -> None:
    with running_app(tmp_path, env={"DASAG_APP_PASSWORD": "right horse battery"}) as app:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROME_ARGS, timeout=60_000)
            try:
                pg = browser.new_page(viewport={"width": 1400, "height": 2000})
                pg.set_default_timeout(60_000)
                pg.goto(app.url)
                password = pg.get_by_label("Password", exact=True)
                password.wait_for()
                pg.wait_for_timeout(2000)  # the whole script has run: anything else would be drawn by now

                def locked() -> bool:
                    """One input (the password); every button is the field's own (its help, show/hide, Open): no toolbar, no sidebar."""
                    buttons = pg.locator("button:visible")
                    return (pg.locator("input").count() == 1 and buttons.count() == pg.get_by_test_id("stForm").locator("button:visible").count()
                            and pg.get_by_role("button", name="Open").count() == 1 and not pg.get_by_test_id("stSidebar").count()
                            and not pg.get_by_role("heading").count())

                assert locked()
                password.fill("wrong horse battery")
                pg.get_by_role("button", name="Open").click()
                pg.get_by_text("Wrong password.").wait_for()
                assert locked()
                pg.screenshot(path=str(tmp_path / "app_locked.png"), full_page=True)
                password.fill("right horse battery")
                pg.get_by_role("button", name="Open").click()
                pg.get_by_role("button", name="Generate").wait_for()
                assert pg.get_by_test_id("stSidebar").count() and not pg.get_by_text("Wrong password.").count()
            finally:
                browser.close()
