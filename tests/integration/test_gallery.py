"""docs/gallery.md (made by examples/make_gallery.py from the committed transfer run) is what its script makes, byte for byte."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def gallery(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "examples" / "make_gallery.py"), *args], capture_output=True, text=True, cwd=ROOT, timeout=1800)


def test_the_page_shows_every_suite_class_once_with_its_verdict_and_fine_scale() -> None:
    from dasag.quality.suites import TRANSFER_CLASSES

    text = (ROOT / "docs" / "gallery.md").read_text()
    for name in TRANSFER_CLASSES[:20]:
        assert text.count(f"<br>**{name}**<br>Lite2: ") == 1, name
        assert (ROOT / "docs" / "images" / "gallery" / f"{name.replace(' ', '_')}.png").is_file(), name
    assert text.count("<br>fine-scale 0.") == 20


@pytest.mark.slow
def test_check_finds_a_changed_page_and_passes_on_the_committed_one_with_a_picture_made_again(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    shutil.copytree(ROOT / "docs", docs, ignore=shutil.ignore_patterns("*.gif"))
    (docs / "gallery.md").write_text((docs / "gallery.md").read_text().replace("fine-scale 0.", "fine-scale 1.", 1))
    changed = gallery("--check", "--docs", str(docs))
    assert changed.returncode == 1 and "differs from" in changed.stdout and "gallery.md" in changed.stdout, changed.stdout + changed.stderr
    # the committed page and pictures, and the first class's picture made again from its config and seed
    committed = gallery("--check", "--classes", "1")
    assert committed.returncode == 0, committed.stdout[-3000:] + committed.stderr[-3000:]
    assert "gallery.md and its 20 pictures: identical" in committed.stdout and "identical" in committed.stdout.splitlines()[-1]
