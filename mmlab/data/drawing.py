"""Drawing SynthMemes pictures with Pillow: icons, coloured shapes and a meme-style caption.

Every drawing function takes an `ImageDraw` and a box `(x0, y0, x1, y1)` in pixels and draws
inside it, so the same code works at any image size. Randomness (position, size, background)
comes from the caller's `random.Random`, which keeps generation deterministic.
"""

from __future__ import annotations

import functools
import math
import random
from collections.abc import Callable

from PIL import Image, ImageDraw, ImageFilter, ImageFont

Box = tuple[float, float, float, float]
Color = tuple[int, int, int]

# --- icons of the clean memes (and of "redundant"): four cheerful and four grim pictures -----


def _sun(draw: ImageDraw.ImageDraw, box: Box) -> None:
    x0, y0, x1, y1 = box
    cx, cy, r = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2
    for dx, dy in [(1, 0), (-1, 0), (0, 1), (0, -1), (0.7, 0.7), (-0.7, 0.7), (0.7, -0.7), (-0.7, -0.7)]:
        draw.line((cx, cy, cx + dx * r, cy + dy * r), fill=(255, 150, 0), width=max(1, int(r / 6)))
    draw.ellipse((cx - r * 0.6, cy - r * 0.6, cx + r * 0.6, cy + r * 0.6), fill=(255, 210, 0))


def _heart_shape(draw: ImageDraw.ImageDraw, box: Box, color: Color) -> None:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    draw.ellipse((x0, y0, x0 + w * 0.55, y0 + h * 0.55), fill=color)
    draw.ellipse((x1 - w * 0.55, y0, x1, y0 + h * 0.55), fill=color)
    draw.polygon([(x0 + w * 0.02, y0 + h * 0.38), (x1 - w * 0.02, y0 + h * 0.38), (x0 + w / 2, y1)], fill=color)


def _heart(draw: ImageDraw.ImageDraw, box: Box) -> None:
    _heart_shape(draw, box, (220, 20, 60))


def _flower(draw: ImageDraw.ImageDraw, box: Box) -> None:
    x0, y0, x1, y1 = box
    cx, cy, r = (x0 + x1) / 2, (y0 + y1) / 2 - (y1 - y0) * 0.1, (x1 - x0) / 2
    draw.line((cx, cy, cx, y1), fill=(30, 140, 40), width=max(1, int(r / 5)))
    p = r * 0.32
    for dx, dy in [(0, -1), (0.95, -0.3), (0.6, 0.8), (-0.6, 0.8), (-0.95, -0.3)]:
        px, py = cx + dx * r * 0.5, cy + dy * r * 0.5
        draw.ellipse((px - p, py - p, px + p, py + p), fill=(255, 105, 180))
    draw.ellipse((cx - p * 0.8, cy - p * 0.8, cx + p * 0.8, cy + p * 0.8), fill=(255, 220, 0))


def _cake(draw: ImageDraw.ImageDraw, box: Box) -> None:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    draw.rectangle((x0, y0 + h * 0.45, x1, y1), fill=(150, 90, 40))
    draw.rectangle((x0, y0 + h * 0.45, x1, y0 + h * 0.6), fill=(255, 240, 245))
    cx = x0 + w / 2
    draw.rectangle((cx - w * 0.05, y0 + h * 0.2, cx + w * 0.05, y0 + h * 0.45), fill=(60, 120, 255))
    draw.ellipse((cx - w * 0.08, y0, cx + w * 0.08, y0 + h * 0.2), fill=(255, 170, 0))


def _storm(draw: ImageDraw.ImageDraw, box: Box) -> None:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    grey = (90, 90, 100)
    draw.ellipse((x0, y0 + h * 0.15, x0 + w * 0.6, y0 + h * 0.6), fill=grey)
    draw.ellipse((x0 + w * 0.35, y0, x1, y0 + h * 0.55), fill=grey)
    draw.rectangle((x0 + w * 0.2, y0 + h * 0.3, x1 - w * 0.1, y0 + h * 0.6), fill=grey)
    bolt = [(0.55, 0.55), (0.35, 0.8), (0.5, 0.8), (0.4, 1.0), (0.7, 0.72), (0.55, 0.72), (0.65, 0.55)]
    draw.polygon([(x0 + bx * w, y0 + by * h) for bx, by in bolt], fill=(255, 230, 0))


def _bomb(draw: ImageDraw.ImageDraw, box: Box) -> None:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    draw.ellipse((x0, y0 + h * 0.25, x0 + w * 0.75, y1), fill=(20, 20, 20))
    draw.line((x0 + w * 0.55, y0 + h * 0.35, x0 + w * 0.8, y0 + h * 0.12), fill=(140, 90, 40), width=max(1, int(w / 12)))
    draw.ellipse((x0 + w * 0.75, y0, x1, y0 + h * 0.22), fill=(255, 80, 0))


def _spider(draw: ImageDraw.ImageDraw, box: Box) -> None:
    x0, y0, x1, y1 = box
    cx, cy, r = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2
    for side in (-1, 1):
        for dy in (-0.6, -0.2, 0.2, 0.6):
            draw.line((cx, cy, cx + side * r, cy + dy * r), fill=(40, 20, 40), width=max(1, int(r / 8)))
    draw.ellipse((cx - r * 0.4, cy - r * 0.45, cx + r * 0.4, cy + r * 0.45), fill=(40, 20, 40))
    draw.ellipse((cx - r * 0.2, cy - r * 0.3, cx - r * 0.05, cy - r * 0.15), fill=(230, 0, 0))
    draw.ellipse((cx + r * 0.05, cy - r * 0.3, cx + r * 0.2, cy - r * 0.15), fill=(230, 0, 0))


def _bin(draw: ImageDraw.ImageDraw, box: Box) -> None:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    draw.polygon([(x0 + w * 0.1, y0 + h * 0.2), (x1 - w * 0.1, y0 + h * 0.2),
                  (x1 - w * 0.2, y1), (x0 + w * 0.2, y1)], fill=(110, 120, 110))
    draw.rectangle((x0, y0 + h * 0.08, x1, y0 + h * 0.2), fill=(70, 80, 70))
    for fx in (0.37, 0.5, 0.63):
        draw.line((x0 + w * fx, y0 + h * 0.3, x0 + w * fx, y1 - h * 0.1), fill=(70, 80, 70), width=1)


# --- more icons for the realistic memes: four cheerful, four grim ------------------------------


def _star(draw: ImageDraw.ImageDraw, box: Box) -> None:
    x0, y0, x1, y1 = box
    cx, cy, r = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 2
    points = []
    for k in range(10):  # five outer tips, five inner corners
        angle = math.pi * (k / 5 - 0.5)
        radius = r if k % 2 == 0 else r * 0.42
        points.append((cx + radius * math.cos(angle), cy + radius * math.sin(angle)))
    draw.polygon(points, fill=(255, 200, 0))


def _balloon(draw: ImageDraw.ImageDraw, box: Box) -> None:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    draw.line((x0 + w / 2, y0 + h * 0.7, x0 + w * 0.45, y1), fill=(80, 80, 80), width=1)
    draw.ellipse((x0 + w * 0.2, y0, x1 - w * 0.2, y0 + h * 0.72), fill=(40, 120, 255))
    draw.ellipse((x0 + w * 0.32, y0 + h * 0.1, x0 + w * 0.42, y0 + h * 0.22), fill=(200, 225, 255))


def _rainbow(draw: ImageDraw.ImageDraw, box: Box) -> None:
    x0, y0, x1, y1 = box
    band = max(1, int((x1 - x0) / 10))
    colors = [(230, 30, 30), (255, 150, 0), (250, 220, 0), (40, 170, 60), (40, 90, 230)]
    for k, color in enumerate(colors):  # arcs from the outside in, each one band thick
        inset = k * band
        draw.arc((x0 + inset, y0 + inset + (y1 - y0) * 0.25, x1 - inset, y1 + (y1 - y0) * 0.7 - inset),
                 180, 360, fill=color, width=band)


def _gift(draw: ImageDraw.ImageDraw, box: Box) -> None:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    draw.rectangle((x0 + w * 0.1, y0 + h * 0.35, x1 - w * 0.1, y1), fill=(170, 60, 200))
    draw.rectangle((x0 + w * 0.44, y0 + h * 0.35, x1 - w * 0.44, y1), fill=(255, 215, 0))
    draw.rectangle((x0 + w * 0.1, y0 + h * 0.55, x1 - w * 0.1, y0 + h * 0.65), fill=(255, 215, 0))
    draw.ellipse((x0 + w * 0.22, y0 + h * 0.12, x0 + w * 0.5, y0 + h * 0.37), fill=(255, 215, 0))
    draw.ellipse((x0 + w * 0.5, y0 + h * 0.12, x1 - w * 0.22, y0 + h * 0.37), fill=(255, 215, 0))


def _skull(draw: ImageDraw.ImageDraw, box: Box) -> None:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    bone = (235, 235, 225)
    draw.ellipse((x0 + w * 0.1, y0, x1 - w * 0.1, y0 + h * 0.75), fill=bone, outline=(60, 60, 60))
    draw.rectangle((x0 + w * 0.3, y0 + h * 0.6, x1 - w * 0.3, y1), fill=bone, outline=(60, 60, 60))
    for ex in (0.25, 0.55):
        draw.ellipse((x0 + w * ex, y0 + h * 0.3, x0 + w * (ex + 0.2), y0 + h * 0.5), fill=(0, 0, 0))


def _ghost(draw: ImageDraw.ImageDraw, box: Box) -> None:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    sheet = (200, 210, 235)
    draw.ellipse((x0 + w * 0.15, y0, x1 - w * 0.15, y0 + h * 0.7), fill=sheet)
    draw.rectangle((x0 + w * 0.15, y0 + h * 0.35, x1 - w * 0.15, y1 - h * 0.1), fill=sheet)
    step = w * 0.7 / 3
    for k in range(3):  # a wavy hem
        left = x0 + w * 0.15 + k * step
        draw.ellipse((left, y1 - h * 0.2, left + step, y1), fill=sheet)
    draw.ellipse((x0 + w * 0.33, y0 + h * 0.25, x0 + w * 0.45, y0 + h * 0.4), fill=(20, 20, 40))
    draw.ellipse((x0 + w * 0.55, y0 + h * 0.25, x0 + w * 0.67, y0 + h * 0.4), fill=(20, 20, 40))


def _rain(draw: ImageDraw.ImageDraw, box: Box) -> None:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    dark = (60, 65, 80)
    draw.ellipse((x0, y0 + h * 0.1, x0 + w * 0.6, y0 + h * 0.5), fill=dark)
    draw.ellipse((x0 + w * 0.35, y0, x1, y0 + h * 0.45), fill=dark)
    for fx in (0.2, 0.4, 0.6, 0.8):
        top = y0 + h * (0.55 + 0.1 * (fx * 10 % 2))
        draw.line((x0 + w * fx, top, x0 + w * (fx - 0.08), top + h * 0.3), fill=(30, 90, 220),
                  width=max(1, int(w / 14)))


def _broken_heart(draw: ImageDraw.ImageDraw, box: Box) -> None:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    _heart_shape(draw, box, (110, 0, 30))
    crack = [(0.5, 0.2), (0.42, 0.42), (0.58, 0.58), (0.46, 0.8)]
    draw.line([(x0 + cx * w, y0 + cy * h) for cx, cy in crack], fill=(0, 0, 0), width=max(1, int(w / 10)))


# --- stand-ins for hate symbols: made-up emblems that are mean by themselves -----------------


def _sigil_eye(draw: ImageDraw.ImageDraw, box: Box) -> None:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    draw.polygon([(x0 + w / 2, y0), (x1, y1), (x0, y1)], fill=(15, 15, 15))
    draw.ellipse((x0 + w * 0.35, y0 + h * 0.5, x1 - w * 0.35, y0 + h * 0.8), fill=(230, 0, 0))


def _sigil_claw(draw: ImageDraw.ImageDraw, box: Box) -> None:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    draw.ellipse(box, fill=(200, 0, 0))
    for fx in (0.3, 0.5, 0.7):
        draw.line((x0 + w * (fx - 0.12), y0 + h * 0.2, x0 + w * (fx + 0.12), y1 - h * 0.2),
                  fill=(10, 10, 10), width=max(1, int(w / 9)))


def _sigil_horns(draw: ImageDraw.ImageDraw, box: Box) -> None:
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    draw.polygon([(x0 + w * 0.15, y0 + h * 0.45), (x0, y0), (x0 + w * 0.4, y0 + h * 0.35)], fill=(15, 15, 15))
    draw.polygon([(x1 - w * 0.15, y0 + h * 0.45), (x1, y0), (x1 - w * 0.4, y0 + h * 0.35)], fill=(15, 15, 15))
    draw.ellipse((x0 + w * 0.12, y0 + h * 0.25, x1 - w * 0.12, y1), fill=(15, 15, 15))
    draw.rectangle((x0 + w * 0.35, y0 + h * 0.55, x1 - w * 0.35, y0 + h * 0.68), fill=(230, 0, 0))


#: name -> (mood, drawing function); mood 0 = cheerful, 1 = grim. The clean memes use the first
#: eight; the realistic memes use all of them, and the SYMBOLS are mean whatever the caption says.
ICONS: dict[str, tuple[int, Callable[[ImageDraw.ImageDraw, Box], None]]] = {
    "sun": (0, _sun),
    "heart": (0, _heart),
    "flower": (0, _flower),
    "cake": (0, _cake),
    "storm": (1, _storm),
    "bomb": (1, _bomb),
    "spider": (1, _spider),
    "bin": (1, _bin),
    "star": (0, _star),
    "balloon": (0, _balloon),
    "rainbow": (0, _rainbow),
    "gift": (0, _gift),
    "skull": (1, _skull),
    "ghost": (1, _ghost),
    "rain": (1, _rain),
    "broken_heart": (1, _broken_heart),
    "sigil_eye": (1, _sigil_eye),
    "sigil_claw": (1, _sigil_claw),
    "sigil_horns": (1, _sigil_horns),
}
SYMBOLS = ("sigil_eye", "sigil_claw", "sigil_horns")

# --- coloured shapes for the "grounding" task --------------------------------------------------

COLORS: dict[str, Color] = {
    "red": (220, 30, 30),
    "green": (30, 160, 50),
    "blue": (40, 80, 230),
    "yellow": (240, 200, 0),
}


def draw_shape(draw: ImageDraw.ImageDraw, shape: str, box: Box, color: Color) -> None:
    """Draw a filled circle, square, triangle or cross inside `box`."""
    x0, y0, x1, y1 = box
    w, h = x1 - x0, y1 - y0
    if shape == "circle":
        draw.ellipse(box, fill=color)
    elif shape == "square":
        draw.rectangle((x0 + w * 0.1, y0 + h * 0.1, x1 - w * 0.1, y1 - h * 0.1), fill=color)
    elif shape == "triangle":
        draw.polygon([(x0 + w / 2, y0), (x1, y1), (x0, y1)], fill=color)
    elif shape == "cross":
        draw.rectangle((x0 + w * 0.35, y0, x1 - w * 0.35, y1), fill=color)
        draw.rectangle((x0, y0 + h * 0.35, x1, y1 - h * 0.35), fill=color)
    else:
        raise ValueError(f"unknown shape {shape!r}")


SHAPES = ("circle", "square", "triangle", "cross")

# --- background and caption --------------------------------------------------------------------


def pastel(rng: random.Random) -> Color:
    """A random light background colour, so that the background carries no label information."""
    return (rng.randint(170, 255), rng.randint(170, 255), rng.randint(170, 255))


@functools.lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.FreeTypeFont:
    """Pillow's built-in font (no font files needed) at `size` pixels."""
    return ImageFont.load_default(size=size)


@functools.lru_cache(maxsize=4096)
def caption_line(text: str, font_size: int) -> Image.Image:
    """One line of meme text (white letters, black outline) as an RGBA image.

    The outline is the letters' mask grown by one pixel (a 3x3 max filter), painted black under
    the white letters: several times faster than Pillow's `stroke_width`. Captions reuse the same
    lines over and over, so rendered lines are also cached.
    """
    font = _font(font_size)
    left, top, right, bottom = font.getbbox(text)
    letters = Image.new("L", (right - left + 2, bottom - top + 2), 0)  # 1 px border for the outline
    ImageDraw.Draw(letters).text((1 - left, 1 - top), text, font=font, fill=255)
    outline = letters.filter(ImageFilter.MaxFilter(3))
    line = Image.new("RGBA", letters.size, (0, 0, 0, 0))
    line.paste((0, 0, 0, 255), (0, 0), outline)
    line.paste((255, 255, 255, 255), (0, 0), letters)
    return line


def overlay_caption(image: Image.Image, text: str) -> None:
    """Write `text` on `image` meme-style: first half of the words on top, the rest at the bottom."""
    size = image.width
    font_size = max(6, size // 8)
    words = text.split()
    half = (len(words) + 1) // 2
    top, bottom = " ".join(words[:half]), " ".join(words[half:])
    margin = max(1, size // 32)
    for line_text, at_top in ((top, True), (bottom, False)):
        if not line_text:
            continue
        line = caption_line(line_text, font_size)
        if line.width > size:  # squeeze long lines to fit, as meme makers do
            line = line.resize((size, line.height))
        x = (size - line.width) // 2
        y = margin if at_top else size - line.height - margin
        image.paste(line, (x, y), line)


def caption_band(size: int) -> int:
    """Height in pixels kept free for each caption line (top and bottom)."""
    return max(6, size // 8) + max(1, size // 32) + 2


def icon_box(rng: random.Random, size: int) -> Box:
    """A random square for an icon: 55 to 95 % of the height between the two caption bands."""
    band = caption_band(size)
    side = rng.uniform(0.55, 0.95) * (size - 2 * band)
    x0 = rng.uniform(0, size - side)
    y0 = rng.uniform(band, size - band - side)
    return (x0, y0, x0 + side, y0 + side)
