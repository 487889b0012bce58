"""The notebooks as learners see them: JupyterLab in Chromium, run top to bottom, widgets used.

nbval checks that every notebook executes; these tests check what it looks like: no cell shows
an error or a warning (both are red boxes), figures are pictures, tqdm's progress bars are bars,
and the attention explorer of notebook 02 is a widget whose picture, shown at its natural size,
changes when its slider moves and its dropdown changes. Things are found by what they are
(widget classes, rendered images, stderr outputs), not by cell numbers, so the tests survive
rewrites of the notebooks.

They need Debian's Chromium and Playwright for Python; without them they are skipped, with one
line that says how to install them (browser_setup.py). conftest.py starts JupyterLab and Chromium.
"""

from __future__ import annotations

import io
import time
from pathlib import Path

import numpy as np
import pytest
from browser_setup import missing_requirement
from PIL import Image

if missing_requirement():
    pytest.skip(missing_requirement(), allow_module_level=True)

from playwright.sync_api import Error as PlaywrightError  # noqa: E402

pytestmark = pytest.mark.browser

OPEN_S = 120  # open a notebook and start its kernel
RUN_S = 300  # run every cell: a notebook takes up to 60 s on a 2-core machine, more when it is busy
REDRAW_S = 30  # the explorer's redraw after a slider or dropdown change
STDERR = ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"  # errors, warnings
FIGURE = ".jp-OutputArea-output.jp-RenderedImage img"
EXPLORER = ".widget-vbox:has(.widget-slider):has(.widget-dropdown):has(.widget-image)"
PROGRESS_BAR = ".widget-hprogress"  # ipywidgets' progress bar, which tqdm.auto draws in JupyterLab
WIDGET_STAND_INS = ("(children=", "Error displaying widget", "%|")  # a widget or bar shown as text

ALL_CELLS_RAN = """stderr => {
    const prompts = [...document.querySelectorAll('.jp-NotebookPanel .jp-CodeCell .jp-InputPrompt')];
    const waiting = prompts.some(prompt => prompt.textContent.includes('*'));
    const numbered = prompts.every(prompt => /\\[\\d+\\]/.test(prompt.textContent));
    const failed = document.querySelector(stderr) !== null;
    return prompts.length > 0 && !waiting && (numbered || failed);
}"""

NEXT_FRAMES = "() => new Promise(done => requestAnimationFrame(() => requestAnimationFrame(done)))"


def kernels_idle(page, lab) -> bool:
    """Whether the server has kernels, all idle, and the page is connected to one ("... | Idle")."""
    kernels = lab.kernels()
    status = page.locator(".jp-StatusBar-Widget").first.inner_text()
    return (bool(kernels) and all(kernel["execution_state"] == "idle" for kernel in kernels)
            and "| Idle" in status and "No Kernel" not in status)


def open_notebook(page, lab, name: str) -> None:
    """Open `name` in JupyterLab, in a workspace of its own, and wait until its kernel is idle."""
    page.goto(lab.url(f"lab/workspaces/{Path(name).stem}/tree/{name}"), timeout=OPEN_S * 1000)
    page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for(timeout=OPEN_S * 1000)
    deadline = time.monotonic() + OPEN_S
    while not kernels_idle(page, lab):
        assert time.monotonic() < deadline, f"{name}: no idle kernel within {OPEN_S} s"
        page.wait_for_timeout(250)


def menu(page, title: str, command: str) -> None:
    """Click menu `title`, then its item that runs `command` (a JupyterLab command id)."""
    page.locator(".lm-MenuBar-itemLabel", has_text=title).first.click()
    page.locator(f".lm-Menu-item[data-command='{command}']").click()


def run_all(page, lab, screenshot: str, watch=None) -> None:
    """Clear every output, run every cell, wait until all ran (or one failed); then screenshot.

    `watch(page)` is called every quarter second while the cells run.
    """
    menu(page, "Edit", "editmenu:clear-all")
    menu(page, "Run", "runmenu:run-all")
    deadline = time.monotonic() + RUN_S
    while not page.evaluate(ALL_CELLS_RAN, STDERR):
        assert time.monotonic() < deadline, f"the cells did not finish running within {RUN_S} s"
        if watch is not None:
            watch(page)
        page.wait_for_timeout(250)
    page.screenshot(path=lab.screenshots / screenshot)


def assert_no_errors_or_stand_ins(page) -> None:
    errors = page.locator(STDERR).all_inner_texts()
    assert not errors, "cells show errors or warnings:\n" + "\n---\n".join(e[:500] for e in errors)
    outputs = page.locator(".jp-OutputArea-output").all_inner_texts()
    shown_as_text = [text[:200] for text in outputs if any(s in text for s in WIDGET_STAND_INS)]
    assert not shown_as_text, f"widgets or progress bars shown as text: {shown_as_text}"


def image_bytes(image) -> bytes:
    """The bytes of the file an <img> shows (for a widget, the PNG the kernel sent)."""
    return bytes(image.evaluate(
        "async img => Array.from(new Uint8Array(await (await fetch(img.src)).arrayBuffer()))"))


def share_of_pixels_changed(before: bytes, after: bytes) -> float:
    old, new = (np.asarray(Image.open(io.BytesIO(png)).convert("RGB")) for png in (before, after))
    assert old.shape == new.shape, "the picture changed size"
    return float((old != new).any(axis=-1).mean())


def settled_picture(page, lab, image, old_src: str | None = None) -> tuple[str, bytes]:
    """The picture the widget shows once it differs from `old_src` and stops changing.

    Settled means: loaded, the same for half a second, and the kernel idle (a slider drag can
    send several values, each redrawn in turn). Returns the picture's address and its bytes.
    """
    deadline, last_src = time.monotonic() + REDRAW_S, None
    while True:
        src = image.evaluate("img => img.complete && img.naturalWidth > 0 ? img.src : null")
        if src is not None and src != old_src and src == last_src and kernels_idle(page, lab):
            return src, image_bytes(image)
        assert time.monotonic() < deadline, f"the explorer's picture did not settle in {REDRAW_S} s"
        last_src = src
        page.wait_for_timeout(500)


def test_welcome_notebook_shows_its_figures(page, lab):
    open_notebook(page, lab, "00_welcome_and_data.ipynb")
    assert_no_errors_or_stand_ins(page)  # as committed, before running
    run_all(page, lab, "00-after-run-all.png")
    assert_no_errors_or_stand_ins(page)
    figures = page.locator(FIGURE)
    assert figures.count() >= 1, "no matplotlib figure was rendered"
    for figure in figures.all():
        figure.scroll_into_view_if_needed()
        size = figure.evaluate("img => [img.naturalWidth, img.naturalHeight, img.clientWidth]")
        assert min(size) > 0, f"a figure did not load or is not shown: {size}"
    figures.first.scroll_into_view_if_needed()
    page.evaluate(NEXT_FRAMES)
    page.screenshot(path=lab.screenshots / "00-first-figure.png")


def test_progress_bars_are_bars_that_move(page, lab):
    """Notebook 01 pretrains its encoders (MMLAB_HOME starts empty): tqdm.auto draws widget bars."""
    seen, captured = [], []  # the fill of every bar each time one is seen; screenshots taken

    def watch_bars(page) -> None:
        fills = page.locator(PROGRESS_BAR).evaluate_all(  # the filled share of each bar, 0 to 1
            "bars => bars.map(bar => parseFloat(bar.querySelector('.progress-bar').style.width) / 100)"
        )
        seen.extend(fills)
        if any(0 < fill < 1 for fill in fills) and not captured:
            try:
                page.locator(PROGRESS_BAR).first.scroll_into_view_if_needed(timeout=5_000)
                page.evaluate(NEXT_FRAMES)  # let the browser paint the cells scrolled into view
                page.screenshot(path=lab.screenshots / "01-progress-bar.png")
                captured.append(True)
            except PlaywrightError:  # the bar finished and closed first: catch the next one
                pass

    open_notebook(page, lab, "01_unimodal_encoders.ipynb")
    assert_no_errors_or_stand_ins(page)
    run_all(page, lab, "01-after-run-all.png", watch=watch_bars)
    assert_no_errors_or_stand_ins(page)
    assert seen, "no progress bar widget appeared while the notebook ran"
    assert any(0 < fill < 1 for fill in seen), f"the bars never moved: {sorted(set(seen))[:10]}"
    assert page.locator(FIGURE).count() >= 1, "no matplotlib figure was rendered"


def test_attention_explorer_is_a_widget_that_redraws(page, lab):
    open_notebook(page, lab, "02_attention.ipynb")
    assert_no_errors_or_stand_ins(page)
    run_all(page, lab, "02-after-run-all.png")
    assert_no_errors_or_stand_ins(page)
    explorer = page.locator(EXPLORER)
    assert explorer.count() == 1, "no explorer widget (a slider, a dropdown and a picture)"
    explorer.scroll_into_view_if_needed()
    image = explorer.locator(".widget-image")
    first_src, first = settled_picture(page, lab, image)

    # At its natural size (one PNG pixel per screen pixel), and all of it fits on the screen.
    natural, shown = image.evaluate("""img => [[img.naturalWidth, img.naturalHeight],
        [img.getBoundingClientRect().width, img.getBoundingClientRect().height]]""")
    assert all(abs(a - b) <= 1 for a, b in zip(natural, shown)), f"PNG {natural} px shown {shown}"
    box = explorer.bounding_box()
    notebook = page.locator(".jp-NotebookPanel-notebook").bounding_box()
    assert box["height"] <= notebook["height"] and box["width"] <= notebook["width"], (
        f"the explorer ({box['width']:.0f} x {box['height']:.0f} px) does not fit the notebook's "
        f"{notebook['width']:.0f} x {notebook['height']:.0f} px on a 1366 x 768 screen")
    page.evaluate(NEXT_FRAMES)
    page.screenshot(path=lab.screenshots / "02-explorer-screen.png")
    explorer.screenshot(path=lab.screenshots / "02-explorer-1-first.png")

    # Drag the slider's handle to the right, as a learner would.
    readout = explorer.locator(".widget-slider .widget-readout")
    meme_before = readout.inner_text()
    handle = explorer.locator(".widget-slider .noUi-handle").bounding_box()
    x, y = handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x + 40, y, steps=5)
    page.mouse.up()
    slid_src, slid = settled_picture(page, lab, image, first_src)
    assert readout.inner_text() != meme_before, "the slider did not move"
    explorer.screenshot(path=lab.screenshots / "02-explorer-2-slider-moved.png")
    assert share_of_pixels_changed(first, slid) > 0.05, "another meme, (nearly) the same picture"

    # Pick the caption's last word in the dropdown.
    dropdown = explorer.locator(".widget-dropdown select")
    dropdown.select_option(index=dropdown.locator("option").count() - 1)
    _, worded = settled_picture(page, lab, image, slid_src)
    explorer.screenshot(path=lab.screenshots / "02-explorer-3-word-picked.png")
    assert share_of_pixels_changed(slid, worded) > 0.01, "another query, the same picture"
    assert_no_errors_or_stand_ins(page)
