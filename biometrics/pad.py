"""Presentation-attack cues of one picture: what a printed photo or a screen looks like to a camera.

Runs on the selfie and on video frames. Every cue is hand-designed from how prints and screens
reproduce a face, with its threshold set above what genuine camera pictures show (the
permissively licensed fixtures: press photos, phone selfies and live clips); nothing here was
fitted to attack samples. `scripts/measure_pad.py` reports how the cues do on real attack stills.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

import cv2
import numpy as np
from numpy.typing import NDArray

from biometrics.decode import RGBImage
from biometrics.face import FaceBox


class PadCue(StrEnum):
    # A print reflects room light: its darkest ink and its paper white both sit well inside
    # what a camera records from a real scene, which nearly always holds some true black
    # (pupils, nostrils, hair, shadow) and some clipped white (a lamp, a window, a reflection).
    FLAT_TONE = "flat_tone"
    # A screen filmed by a camera: part of the face clipped to white in every colour channel by
    # the backlight or a reflection on the glass ...
    SCREEN_GLARE = "screen_glare"
    # ... or rendered with a screen's gamma, darker shadows and brighter highlights than
    # skin under any room light.
    SCREEN_CONTRAST = "screen_contrast"
    # The pixel grid beating with the camera sensor: a narrow line in the spectrum.
    MOIRE = "moire"
    # Straight edges round the face on three sides: a device's bezel or a sheet's border.
    BEZEL = "bezel"


# Which kind of attack each cue stands for.
PRINT_CUES = frozenset({PadCue.FLAT_TONE})
SCREEN_CUES = frozenset({PadCue.SCREEN_GLARE, PadCue.SCREEN_CONTRAST, PadCue.MOIRE, PadCue.BEZEL})


@dataclass(frozen=True)
class PadPolicy:
    """Thresholds of the picture cues, with why each has its value."""

    # flat_tone: shares of the frame (grey levels of 255) that are black or clipped white.
    # Fires when both stay below min_tone_share: 0.5 % of a 640x480 frame is 1500 pixels,
    # fewer than the pupils and nostrils of a selfie-sized face alone.
    black_level: int = 20
    white_level: int = 246
    min_tone_share: float = 0.005
    # ... judged only when the picture shows the surroundings too (at least this many times
    # the face box's area): a crop of the face alone has neither hair, clothes nor lamps to
    # hold the extremes, so their absence says nothing there.
    min_context_area: float = 4.0
    # screen_glare: share of the inner face (the box less 15 % on each side, at face_side px)
    # clipped in all three channels (each >= glare_level): light that reached the sensor
    # with no skin colour left in it. It once counted "near-white and colourless" pixels (HSV
    # value > 220, saturation < 40), but the saturation of a bright pixel is (max - min) / max,
    # and pale, evenly lit or retouched skin sits at 15-25 % there: that fired on 45 of 467
    # genuine East-Asian photos against 4 of 134 others. A clipped pixel has no colour whatever
    # the skin's tone. Genuine non-East-Asian fixture photos and live attack-set stills stay
    # at or under 0.021 (scripts/measure_pad.py), hence 0.03.
    glare_level: int = 245
    max_glare_share: float = 0.03
    # screen_contrast: standard deviation of grey levels over the inner face at 96 x 96.
    # Skin lit by room light, even side-lit, stays under 66 in every genuine fixture.
    max_face_contrast: float = 70.0
    # moire: as liveness.moire_peak (natural-log units over the local spectrum).
    max_moire_peak: float = 3.0
    bezel_sides: int = 3
    bezel_min_length: float = 0.35
    # The face crop is resized to this width for colour and contrast measures, so the cues do
    # not depend on the camera's resolution.
    face_side: int = 96
    # The frame is resized so the face is this wide for the tone and edge measures.
    frame_face_px: float = 120.0


@dataclass(frozen=True)
class CueResult:
    """One cue: its value, its threshold and whether it fired (evidence of an attack)."""

    value: float
    threshold: float
    fired: bool


@dataclass(frozen=True)
class PictureCues:
    """Every cue measured on one picture, and the attack kinds they point at."""

    cues: Mapping[PadCue, CueResult] = field(default_factory=dict)

    @property
    def fired(self) -> tuple[PadCue, ...]:
        return tuple(c for c, r in self.cues.items() if r.fired)

    @property
    def print_like(self) -> bool:
        return any(c in PRINT_CUES for c in self.fired)

    @property
    def screen_like(self) -> bool:
        return any(c in SCREEN_CUES for c in self.fired)

    @property
    def score(self) -> float:
        """The largest cue over its own threshold, oriented so that 1.0 is the operating point
        and more is more attack-like (flat_tone counts the other way round)."""
        best = 0.0
        for cue, r in self.cues.items():
            if cue is PadCue.FLAT_TONE:
                ratio = r.threshold / max(r.value, 1e-6)
            else:
                ratio = r.value / max(r.threshold, 1e-6)
            best = max(best, ratio)
        return min(best, 10.0)

    def as_dict(self) -> dict[str, dict[str, float | bool]]:
        return {
            c.value: {"value": round(r.value, 4), "threshold": r.threshold, "fired": r.fired}
            for c, r in self.cues.items()
        }


def picture_cues(
    pixels: RGBImage,
    box: FaceBox,
    *,
    policy: PadPolicy,
    detail: RGBImage | None = None,
    block_period: float | None = None,
) -> PictureCues:
    """Measure every cue of one picture around its face `box` (in `pixels` coordinates).

    `detail` is the same picture at a higher resolution for the moire spectrum (which needs
    pixels a working-size copy has thrown away); without it the moire is measured on `pixels`.
    `block_period` is the codec's 8-pixel block grid in the moire picture's pixels (8 when it
    is at the original resolution).
    """
    p = policy
    height, width = pixels.shape[:2]
    inner = _inner_box(box, width=width, height=height)
    if inner is None:
        return PictureCues()
    left, top, right, bottom = inner
    face = cv2.resize(
        np.ascontiguousarray(pixels[top:bottom, left:right]),
        (p.face_side, p.face_side),
        interpolation=cv2.INTER_AREA,
    )
    glare = float((face.min(axis=2) >= p.glare_level).mean())
    contrast = float(cv2.cvtColor(face, cv2.COLOR_RGB2GRAY).astype(np.float32).std())

    factor = min(1.0, p.frame_face_px / max(box.width, 1.0))
    grey_full = cv2.cvtColor(pixels, cv2.COLOR_RGB2GRAY)
    grey: NDArray[np.uint8]
    if factor < 1.0:
        grey = np.asarray(
            cv2.resize(grey_full, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA),
            dtype=np.uint8,
        )
    else:
        grey = np.asarray(grey_full, dtype=np.uint8)
    dark = float((grey <= p.black_level).mean())
    bright = float((grey >= p.white_level).mean())
    tone = max(dark, bright)
    context = (width * height) / max(box.width * box.height, 1.0)
    judged = context >= p.min_context_area
    sides = bezel_sides(grey, box.scaled(factor), min_length=p.bezel_min_length)

    source = detail if detail is not None else pixels
    ratio = source.shape[1] / width
    d_inner = _inner_box(box.scaled(ratio), width=source.shape[1], height=source.shape[0])
    moire = 0.0
    if d_inner is not None:
        dl, dt, dr, db = d_inner
        crop = cv2.cvtColor(np.ascontiguousarray(source[dt:db, dl:dr]), cv2.COLOR_RGB2GRAY)
        block = block_period if block_period is not None else 8.0
        moire = moire_peak(crop.astype(np.float32), block_period=block)
    cues = {
        PadCue.FLAT_TONE: CueResult(tone, p.min_tone_share, judged and tone < p.min_tone_share),
        PadCue.SCREEN_GLARE: CueResult(glare, p.max_glare_share, glare > p.max_glare_share),
        PadCue.SCREEN_CONTRAST: CueResult(
            contrast, p.max_face_contrast, contrast > p.max_face_contrast
        ),
        PadCue.MOIRE: CueResult(moire, p.max_moire_peak, moire > p.max_moire_peak),
        PadCue.BEZEL: CueResult(float(sides), float(p.bezel_sides), sides >= p.bezel_sides),
    }
    return PictureCues(cues=cues)


def _inner_box(box: FaceBox, *, width: int, height: int) -> tuple[int, int, int, int] | None:
    """The face without hair, ears and background: the box less 15 % at the sides and top."""
    left = max(0, int(box.left + 0.15 * box.width))
    top = max(0, int(box.top + 0.15 * box.height))
    right = min(width, int(box.right - 0.15 * box.width))
    bottom = min(height, int(box.bottom - 0.1 * box.height))
    if right - left < 8 or bottom - top < 8:
        return None
    return left, top, right, bottom


def moire_peak(gray: NDArray[np.float32], *, block_period: float = 8.0, tile: int = 64) -> float:
    """Strongest narrow spectral line in the picture, in natural-log units over its surroundings.

    A screen filmed by a camera adds a periodic pattern (its pixel grid beating with the
    sensor's): a sharp line in the spectrum. Natural skin and hair have smooth spectra. Tiles
    are averaged (Welch) to steady the noise floor; the axes and the codec's block grid
    (`block_period` pixels) are left out, because compression itself puts lines there.
    """
    height, width = gray.shape
    # Fewer than 2 x 2 tiles leaves the noise floor too rough to tell a line from chance.
    if min(height, width) < tile + tile // 2:
        return 0.0
    window = np.outer(np.hanning(tile), np.hanning(tile)).astype(np.float32)
    stride = tile // 2
    power = np.zeros((tile, tile), dtype=np.float64)
    count = 0
    for y in range(0, height - tile + 1, stride):
        for x in range(0, width - tile + 1, stride):
            patch = gray[y : y + tile, x : x + tile]
            patch = (patch - patch.mean()) * window
            power += np.abs(np.fft.fft2(patch)) ** 2
            count += 1
    log_power = np.log(np.fft.fftshift(power / count) + 1e-6).astype(np.float32)
    excess = log_power - cv2.medianBlur(log_power, 5)
    freq = np.fft.fftshift(np.fft.fftfreq(tile))
    fx, fy = np.meshgrid(freq, freq)
    radius = np.hypot(fx, fy)
    bin_width = 1.0 / tile
    mask = (radius >= 0.12) & (np.abs(fx) > 1.5 * bin_width) & (np.abs(fy) > 1.5 * bin_width)
    step = 1.0 / block_period
    on_grid_x = np.abs(fx / step - np.round(fx / step)) * step <= 1.01 * bin_width
    on_grid_y = np.abs(fy / step - np.round(fy / step)) * step <= 1.01 * bin_width
    mask &= ~(on_grid_x & on_grid_y)
    return float(excess[mask].max()) if mask.any() else 0.0


def bezel_sides(gray: NDArray[np.uint8], box: FaceBox, *, min_length: float) -> int:
    """On how many sides of the face a long straight edge runs: a screen's border or bezel."""
    height, width = gray.shape
    edges = cv2.Canny(gray, 50, 150)
    edges[_picture_fill(gray)] = 0
    length = min_length * min(height, width)
    lines = cv2.HoughLinesP(edges, 1, np.pi / 180, threshold=60, minLineLength=length, maxLineGap=4)
    if lines is None:
        return 0
    sides = set()
    for x1, y1, x2, y2 in lines.reshape(-1, 4).astype(float):
        angle = abs(float(np.degrees(np.arctan2(y2 - y1, x2 - x1)))) % 180
        if angle < 10 or angle > 170:
            span = (min(x1, x2), max(x1, x2))
            if _overlap(span, (box.left, box.right)) < 0.5 * box.width:
                continue
            y = (y1 + y2) / 2
            if y < box.top - 0.05 * box.height:
                sides.add("top")
            elif y > box.bottom + 0.05 * box.height:
                sides.add("bottom")
        elif 80 < angle < 100:
            span = (min(y1, y2), max(y1, y2))
            if _overlap(span, (box.top, box.bottom)) < 0.5 * box.height:
                continue
            x = (x1 + x2) / 2
            if x < box.left - 0.05 * box.width:
                sides.add("left")
            elif x > box.right + 0.05 * box.width:
                sides.add("right")
    return len(sides)


def _picture_fill(gray: NDArray[np.uint8], *, black: int = 6, near: int = 3) -> NDArray[np.bool_]:
    """Where a straight edge is the picture's own, not a device's: a band along the border (a
    drawn frame, a scan's edge) and next to digital black fill reaching the border (the corners
    of a rotated, aligned crop, a letterbox).

    A camera never records an area at grey <= 6 all the way to the edge of its picture next to
    lit content; such fill was added by software after the capture. Without this, 14 of 273
    aligned East-Asian press crops (black corners) and 6 of 194 framed web photos had three
    "bezel" sides; no attack still had any.
    """
    height, width = gray.shape
    band = max(2, round(0.015 * min(height, width)))
    mask = np.zeros((height, width), dtype=np.bool_)
    mask[:band], mask[-band:], mask[:, :band], mask[:, -band:] = True, True, True, True
    count, labels = cv2.connectedComponents((gray <= black).astype(np.uint8), connectivity=4)
    if count > 1:
        edge_labels = np.unique(
            np.concatenate((labels[0], labels[-1], labels[:, 0], labels[:, -1]))
        )
        fill = np.isin(labels, edge_labels[edge_labels > 0])
        if fill.any():
            kernel = np.ones((2 * near + 1, 2 * near + 1), dtype=np.uint8)
            mask |= cv2.dilate(fill.astype(np.uint8), kernel) > 0
    return mask


def _overlap(a: tuple[float, float], b: tuple[float, float]) -> float:
    return max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
