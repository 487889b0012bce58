"""The attention explorer's callbacks, driven from plain Python: set a value, the figure updates."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")

import torch  # noqa: E402
from PIL import Image  # noqa: E402

from mmlab.widgets import WHOLE_CAPTION, AttentionExplorer, draw_attention  # noqa: E402


def fake_attention(index: int, query: str) -> torch.Tensor:
    """A map that says which meme and query it was made for: a peak at (index, len(query) % 8)."""
    weights = torch.zeros(8, 8)
    weights[index, len(query) % 8] = 1.0
    return weights


def make_explorer(calls: list | None = None) -> AttentionExplorer:
    images = torch.randint(0, 256, (3, 3, 64, 64), dtype=torch.uint8)

    def attention(index: int, query: str) -> torch.Tensor:
        if calls is not None:
            calls.append((index, query))
        return fake_attention(index, query)

    return AttentionExplorer(images, ["a red circle", "the blue square", "a green cross"], attention)


def test_initial_view():
    explorer = make_explorer()
    assert explorer.query.options == (WHOLE_CAPTION, "a", "red", "circle")
    assert torch.equal(torch.tensor(explorer.heatmap.get_array()), fake_attention(0, WHOLE_CAPTION))
    assert "a red circle" in explorer.ax.get_title()
    assert explorer.image.value[:4] == b"\x89PNG"


def test_setting_the_sample_updates_words_and_figure():
    calls = []
    explorer = make_explorer(calls)
    before = explorer.image.value
    explorer.sample.value = 1  # what moving the slider does
    assert explorer.query.options == (WHOLE_CAPTION, "the", "blue", "square")
    assert explorer.query.value == WHOLE_CAPTION
    assert calls[-1] == (1, WHOLE_CAPTION)
    assert torch.equal(torch.tensor(explorer.heatmap.get_array()), fake_attention(1, WHOLE_CAPTION))
    assert "the blue square" in explorer.ax.get_title()
    assert explorer.image.value != before


def test_setting_the_query_updates_the_heatmap():
    calls = []
    explorer = make_explorer(calls)
    explorer.sample.value = 2
    explorer.query.value = "green"  # what picking a word in the dropdown does
    assert calls[-1] == (2, "green")
    assert torch.equal(torch.tensor(explorer.heatmap.get_array()), fake_attention(2, "green"))
    assert "query: green" in explorer.ax.get_title()
    explorer.select_query("cross")  # the callback itself, called directly
    assert calls[-1] == (2, "cross")


def test_widget_holds_controls_and_image():
    explorer = make_explorer()
    box = explorer.widget()
    assert explorer.image in box.children and explorer.sample in box.children[0].children


def test_picture_is_shown_at_its_natural_size_and_fits_a_laptop_screen():
    explorer = make_explorer()
    for index in (0, 2):  # the first picture, and one drawn after the slider moved
        explorer.sample.value = index
        width, height = Image.open(io.BytesIO(explorer.image.value)).size
        layout = explorer.image.layout
        assert (layout.width, layout.height) == (f"{width}px", f"{height}px")
    # A 1366 x 768 screen leaves about 500 px of height under the browser's and JupyterLab's bars,
    # and the slider takes about 30 of them; the file browser takes about 300 px of the width.
    assert height <= 470 and width <= 1000


def test_draw_attention_stretches_the_map_over_the_picture():
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots()
    heat = draw_attention(ax, torch.rand(3, 64, 64), torch.rand(8, 8), "title")
    assert heat.get_extent() == [0, 64, 64, 0]
    assert ax.get_title() == "title"
    plt.close(fig)
