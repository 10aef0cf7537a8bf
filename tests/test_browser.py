"""End to end: the pose explorer in a real JupyterLab, driven by headless Chromium.

Starts JupyterLab on 127.0.0.1 (free port, token, throwaway Jupyter/IPython directories, no news pop-up), opens a small
notebook that creates the explorer on the embedded dataset with a tiny real checkpoint, runs it, moves the frame slider
with the keyboard, and checks that the frame number and the rendered image changed. The screenshot is kept in the
test's folder and copied to ``outputs/figures/explorer_browser.png``.

Skipped when ``/usr/bin/chromium`` (Debian's ``chromium`` package) or Playwright is missing, unless
``EHFUSION_REQUIRE_BROWSER=1`` (set in CI), in which case it fails instead.
"""
from __future__ import annotations

import os
import re
import shutil
import time
from pathlib import Path

import nbformat
import pytest

from browser_support import start_jupyterlab, wait_for_idle_kernel
from explorer_support import save_tiny_checkpoint

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
NOTEBOOK = "explorer_browser.ipynb"
TIMEOUT_MS = 60_000

def _unavailable(reason: str) -> None:
    if os.environ.get("EHFUSION_REQUIRE_BROWSER") == "1":
        pytest.fail(f"{reason}, and EHFUSION_REQUIRE_BROWSER=1 requires the browser test to run")
    pytest.skip(f"{reason} (install it with `apt-get install chromium`; set EHFUSION_REQUIRE_BROWSER=1 to fail)")


def _explorer_notebook(path: Path, checkpoint_dir: Path) -> Path:
    """A three-cell notebook that builds the explorer on the embedded dataset with the checkpoints of a folder."""
    cells = [
        nbformat.v4.new_markdown_cell("# Pose explorer (browser test)"),
        nbformat.v4.new_code_cell(
            "from ehfusion.data import load_dataset\n"
            "from ehfusion.widgets import PoseExplorer"
        ),
        nbformat.v4.new_code_cell(
            "explorer = PoseExplorer(load_dataset('embedded', keypoints='gt'), action='walk', max_frames=40,\n"
            f"                        checkpoint_dir={str(checkpoint_dir)!r})\n"
            "explorer"
        ),
    ]
    notebook = nbformat.v4.new_notebook(cells=cells)
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(notebook, path)
    return path


def _frame_number(page) -> int:
    text = page.locator(".ehfusion-explorer-frame .ehfusion-frame-number").inner_text(timeout=TIMEOUT_MS)
    match = re.search(r"frame (\d+) /", text)
    assert match, f"unexpected frame label {text!r}"
    return int(match.group(1))


def test_missing_browser_skips_unless_required(monkeypatch):
    monkeypatch.delenv("EHFUSION_REQUIRE_BROWSER", raising=False)
    with pytest.raises(pytest.skip.Exception, match="chromium is missing"):
        _unavailable("/usr/bin/chromium is missing")
    monkeypatch.setenv("EHFUSION_REQUIRE_BROWSER", "1")
    with pytest.raises(pytest.fail.Exception, match="EHFUSION_REQUIRE_BROWSER=1 requires"):
        _unavailable("/usr/bin/chromium is missing")


@pytest.mark.browser
@pytest.mark.slow
def test_pose_explorer_in_jupyterlab(tmp_path):
    if not CHROMIUM.exists():
        _unavailable(f"{CHROMIUM} is missing")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("the playwright Python package is missing")

    root = tmp_path / "root"
    root.mkdir()
    checkpoints = tmp_path / "checkpoints"
    checkpoints.mkdir()
    save_tiny_checkpoint(checkpoints / "tiny.bin")
    _explorer_notebook(root / NOTEBOOK, checkpoints)
    screenshot = tmp_path / "explorer_browser.png"
    started = time.monotonic()
    server = start_jupyterlab(root, tmp_path / "jupyter", timeout=90)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS,
                                                 timeout=TIMEOUT_MS)
            try:
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.set_default_timeout(TIMEOUT_MS)
                page.goto(f"{server.url}/lab/tree/{NOTEBOOK}?token={server.token}", wait_until="domcontentloaded")
                page.locator(".jp-Notebook").first.wait_for(state="visible")
                wait_for_idle_kernel(server, NOTEBOOK, timeout=90)

                # Run every cell through the UI's own command (the same as Run > Run All Cells).
                page.locator(".jp-Notebook").first.click()
                page.wait_for_function("() => window.jupyterapp !== undefined")
                page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")

                image = page.locator(".ehfusion-explorer-image").first
                image.wait_for(state="visible", timeout=90_000)
                page.wait_for_function(
                    "() => { const img = document.querySelector('.ehfusion-explorer-image');"
                    " return img && img.naturalWidth > 100; }", timeout=90_000)
                assert _frame_number(page) == 0
                source_before = image.get_attribute("src")
                pixels_before = image.screenshot()

                # Move the frame slider with the keyboard on its handle.
                handle = page.locator(".ehfusion-explorer-slider .noUi-handle").first
                handle.focus()
                for _ in range(5):
                    handle.press("ArrowRight")
                page.wait_for_function(
                    "() => /frame 5 \\//.test(document.querySelector('.ehfusion-explorer-frame').innerText)",
                    timeout=30_000)
                page.wait_for_function(
                    "(before) => document.querySelector('.ehfusion-explorer-image').src !== before",
                    arg=source_before, timeout=30_000)
                page.wait_for_function(
                    "() => { const img = document.querySelector('.ehfusion-explorer-image');"
                    " return img.complete && img.naturalWidth > 100; }")
                assert _frame_number(page) == 5
                assert image.screenshot() != pixels_before
                image.scroll_into_view_if_needed()
                page.screenshot(path=str(screenshot), full_page=False)
            finally:
                browser.close()
    finally:
        server.stop()
    elapsed = time.monotonic() - started
    assert screenshot.stat().st_size > 10_000

    from ehfusion.paths import OUTPUT_DIR

    figures = OUTPUT_DIR / "figures"
    figures.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(screenshot, figures / "explorer_browser.png")
    print(f"browser test: {elapsed:.1f} s, screenshot {screenshot}")
