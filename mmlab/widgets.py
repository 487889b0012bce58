"""Interactive views for the notebooks: pick something, see what the model attends to.

`AttentionExplorer` shows one meme with an attention heatmap drawn over it. A slider picks the
meme and a dropdown the query (the whole caption or one of its words). The callbacks are plain
methods (`select_sample`, `select_query`) that redraw one matplotlib figure and put it, as PNG
bytes, into an `ipywidgets.Image`; so they work and can be tested without a browser: set
`explorer.sample.value = 3` and the figure shows meme 3.

The picture is shown at its natural size, one PNG pixel per screen pixel: left alone, JupyterLab
stretches an image widget to the notebook's width (it drew a 230 px PNG 930 px wide: blurry, and
taller than a laptop screen), so `redraw` sizes the widget to the PNG's pixels.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch
from PIL import Image

from mmlab.data.text import simple_tokenize

WHOLE_CAPTION = "(whole caption)"
FIGURE_INCHES = (3.2, 3.4)  # the explorer's figure (width, height)
DPI = 100  # PNG pixels per inch: 320 x 340 px, which with the controls fits a 1366 x 768 screen


def draw_attention(ax: plt.Axes, image: torch.Tensor, weights: torch.Tensor, title: str = "",
                   alpha: float = 0.55):
    """Draw `image` (3, H, W) uint8 or float with `weights` (h, w) stretched over it as a heatmap.

    Returns the heatmap's `AxesImage` (update it with `set_data`).
    """
    image = image.float() / 255 if image.dtype == torch.uint8 else image
    height, width = image.shape[-2:]
    ax.imshow(image.permute(1, 2, 0).numpy(), interpolation="nearest")  # (H, W, 3)
    heat = ax.imshow(weights.detach().numpy(), cmap="inferno", alpha=alpha, interpolation="nearest",
                     extent=(0, width, height, 0), vmin=0, vmax=float(weights.max()) or 1.0)
    ax.set_title(title, fontsize=8)
    ax.axis("off")
    return heat


class AttentionExplorer:
    """Pick a meme and a query word; the heatmap shows where that query's attention goes.

    images (N, 3, H, W); captions, one per image; `attention(index, query)` returns the (h, w)
    attention map of meme `index` for `query` (a word of its caption, or WHOLE_CAPTION).
    """

    def __init__(self, images: torch.Tensor, captions: Sequence[str],
                 attention: Callable[[int, str], torch.Tensor]) -> None:
        self.images, self.captions, self.attention = images, list(captions), attention
        self.sample = widgets.IntSlider(value=0, min=0, max=len(self.captions) - 1, description="meme")
        self.query = widgets.Dropdown(options=self._queries(0), value=WHOLE_CAPTION, description="query")
        self.figure, self.ax = plt.subplots(figsize=FIGURE_INCHES)
        plt.close(self.figure)  # shown as `self.image`, not by the notebook's inline backend
        self.heatmap = None
        self.image = widgets.Image(format="png")
        self.sample.observe(lambda change: self.select_sample(change["new"]), names="value")
        self.query.observe(lambda change: self.select_query(change["new"]), names="value")
        self.redraw()

    def _queries(self, index: int) -> list[str]:
        return [WHOLE_CAPTION, *dict.fromkeys(simple_tokenize(self.captions[index]))]

    def select_sample(self, index: int) -> None:
        """Callback of the slider: show meme `index`, querying with its whole caption."""
        if index != self.sample.value:
            self.sample.value = index  # moves the slider, whose observer calls back here
            return
        self.query.options = self._queries(index)  # may reset the value: redraw once, below
        self.query.value = WHOLE_CAPTION
        self.redraw()

    def select_query(self, query: str | None) -> None:
        """Callback of the dropdown: redraw the heatmap for `query` (a word of the caption)."""
        if query is None:  # the options are being replaced
            return
        if query != self.query.value:
            self.query.value = query  # moves the dropdown, whose observer calls back here
            return
        self.redraw()

    def redraw(self) -> None:
        """Draw the current meme and query into the figure, and the figure into the image widget."""
        index, query = self.sample.value, self.query.value
        weights = self.attention(index, query)  # (h, w)
        self.ax.clear()
        self.heatmap = draw_attention(self.ax, self.images[index], weights,
                                      f"{self.captions[index]}\nquery: {query}")
        png = io.BytesIO()
        self.figure.savefig(png, format="png", dpi=DPI)
        self.image.value = png.getvalue()
        width, height = Image.open(png).size  # the PNG's pixels
        self.image.layout.width, self.image.layout.height = f"{width}px", f"{height}px"  # not stretched

    def widget(self) -> widgets.Widget:
        """The controls and the figure, for the notebook to display."""
        return widgets.VBox([widgets.HBox([self.sample, self.query]), self.image])
