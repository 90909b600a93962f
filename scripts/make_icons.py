"""Draw the pensioner page's app icons (static/icons/*.png) for the web app manifest.

The PNGs are committed; run this again after changing the drawing:
    .venv/bin/python scripts/make_icons.py
A blue square (the page's theme colour) with a white ring and tick: readable at 48 px on a
home screen, and inside the central 80% "safe zone" so launchers may mask it to a circle.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

ICONS = Path(__file__).resolve().parent.parent / "static" / "icons"
BLUE = (29, 95, 168)
WHITE = (255, 255, 255)
SIZES = (192, 512)


def draw(size: int) -> Image.Image:
    # Drawn at 4x and scaled down, for smooth edges.
    big = size * 4
    image = Image.new("RGB", (big, big), BLUE)
    pen = ImageDraw.Draw(image)
    ring = big * 0.26
    centre = big / 2
    width = round(big * 0.06)
    pen.ellipse(
        (centre - ring, centre - ring, centre + ring, centre + ring), outline=WHITE, width=width
    )
    tick = [
        (centre - ring * 0.5, centre + ring * 0.02),
        (centre - ring * 0.1, centre + ring * 0.42),
        (centre + ring * 0.55, centre - ring * 0.38),
    ]
    pen.line(tick, fill=WHITE, width=width, joint="curve")
    return image.resize((size, size), Image.Resampling.LANCZOS)


def main() -> None:
    ICONS.mkdir(parents=True, exist_ok=True)
    for size in SIZES:
        path = ICONS / f"icon-{size}.png"
        draw(size).save(path, optimize=True)
        print(path.relative_to(ICONS.parent.parent))


if __name__ == "__main__":
    main()
