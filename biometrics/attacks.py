"""Make presentation-attack clips from a genuine clip or photo, each labelled with its kind.

For tests and benches only (`lifecert gen-attacks`): a printed photo held by hand, bent and
tilted in 3-D to fake a head turn; the clip replayed on a phone or tablet screen; and the clip
edited so that an action is spliced out. Every clip is then seen through a cheap webcam
(640x480, 12-15 frames a second, sensor noise, soft focus, strong compression), the conditions
under which real attacks arrive.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any, Literal

import av
import cv2
import numpy as np
from numpy.typing import NDArray

Image = NDArray[np.uint8]
# A frame and the second at which it is presented.
Timed = tuple[float, Image]
AttackType = Literal["print", "replay", "injection", "live"]


@dataclass(frozen=True)
class Webcam:
    """What the camera that films the attack does to it."""

    width: int = 640
    height: int = 480
    fps: float = 12.0
    noise: float = 2.5
    blur_sigma: float = 0.7
    crf: int = 28


def read_frames(path: Path, *, max_side: int | None = None) -> Iterator[Timed]:
    """Every frame of a clip, upright as stored, optionally shrunk."""
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        first: float | None = None
        for frame in container.decode(stream):
            t = float(frame.time or 0.0)
            first = t if first is None else first
            image: Any = frame.to_ndarray(format="rgb24")
            if max_side is not None and max(image.shape[:2]) > max_side:
                ratio = max_side / max(image.shape[:2])
                image = cv2.resize(image, None, fx=ratio, fy=ratio, interpolation=cv2.INTER_AREA)
            yield t - first, np.ascontiguousarray(image, dtype=np.uint8)


def write_clip(
    path: Path,
    frames: Iterable[Timed],
    *,
    codec: str = "libx264",
    container_format: str | None = None,
    tags: Mapping[str, str] | None = None,
    stream_tags: Mapping[str, str] | None = None,
    rotation: int | None = None,
    crf: int = 20,
) -> Path:
    """Encode RGB frames at their own timestamps (millisecond time base)."""
    time_base = Fraction(1, 1000)
    with av.open(str(path), "w", format=container_format) as out:
        if tags:
            out.metadata.update(tags)
        stream: Any = None
        for t, image in frames:
            h, w = image.shape[:2]
            if stream is None:
                stream = out.add_stream(codec, rate=30)
                stream.width, stream.height = w - w % 2, h - h % 2
                stream.pix_fmt = "yuv420p"
                stream.codec_context.time_base = time_base
                if codec == "libx264":
                    stream.options = {"crf": str(crf), "preset": "ultrafast"}
                elif codec.startswith("libvpx"):
                    stream.options = {"deadline": "realtime", "cpu-used": "8", "crf": "30"}
                    stream.bit_rate = 1_000_000
                if stream_tags:
                    stream.metadata.update(stream_tags)
                if rotation is not None:
                    stream.set_display_rotation(rotation)
            frame = av.VideoFrame.from_ndarray(
                np.ascontiguousarray(image[: stream.height, : stream.width]), format="rgb24"
            )
            frame.pts = round(t * 1000)
            frame.time_base = time_base
            for packet in stream.encode(frame):
                out.mux(packet)
        if stream is not None:
            for packet in stream.encode():
                out.mux(packet)
    return path


def load_photo(path: Path, *, size: tuple[int, int] = (480, 640)) -> Image:
    """A photo cropped to the aspect ratio of `size` (width, height) and resized to it."""
    raw = cv2.imread(str(path))
    if raw is None:
        raise ValueError(f"{path} is not a picture OpenCV can read")
    image = cv2.cvtColor(raw, cv2.COLOR_BGR2RGB)
    width, height = size
    h, w = image.shape[:2]
    target = width / height
    if w / h > target:
        new_w = int(h * target)
        image = image[:, (w - new_w) // 2 : (w - new_w) // 2 + new_w]
    else:
        new_h = int(w / target)
        image = image[(h - new_h) // 2 : (h - new_h) // 2 + new_h]
    return np.ascontiguousarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA))


def _clock(seconds: float, fps: float) -> list[float]:
    return [i / fps for i in range(int(seconds * fps))]


def through_webcam(frames: Iterable[Timed], camera: Webcam, *, seed: int = 0) -> Iterator[Timed]:
    """Resample to the webcam's rate and size; add its noise and soft focus."""
    rng = np.random.default_rng(seed)
    step = 1.0 / camera.fps
    next_t = 0.0
    for t, image in frames:
        if t + 1e-6 < next_t:
            continue
        next_t += step
        h, w = image.shape[:2]
        scale = max(camera.width / w, camera.height / h)
        resized = cv2.resize(
            image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA
        )
        top = (resized.shape[0] - camera.height) // 2
        left = (resized.shape[1] - camera.width) // 2
        picture: Any = resized[top : top + camera.height, left : left + camera.width]
        picture = picture.astype(np.float32)
        if camera.blur_sigma > 0:
            picture = cv2.GaussianBlur(picture, (0, 0), camera.blur_sigma)
        picture += rng.normal(0.0, camera.noise, picture.shape).astype(np.float32)
        yield t, np.clip(picture, 0, 255).astype(np.uint8)


# ---------------------------------------------------------------------------------------------
# A printed photo


def as_printed(photo: Image, *, seed: int = 0) -> Image:
    """A photo as a print reflects it: ink black and paper white inside the camera's range,
    a little less colour, softer detail, and the grain of the paper."""
    rng = np.random.default_rng(seed)
    picture: Any = photo.astype(np.float32) / 255.0
    grey = picture.mean(axis=2, keepdims=True)
    picture = grey + 0.8 * (picture - grey)
    # Black ink reflects ~6 % of the light, paper ~88 % (in linear light, not sRGB values).
    linear = picture**2.2
    picture = (0.06 + 0.82 * linear) ** (1 / 2.2)
    picture = cv2.GaussianBlur(picture, (0, 0), 0.8)
    h, w = picture.shape[:2]
    grain = cv2.resize(
        rng.normal(0.0, 1.0, (h // 3 + 1, w // 3 + 1)).astype(np.float32),
        (w, h),
        interpolation=cv2.INTER_LINEAR,
    )
    picture = picture * (1.0 + 0.025 * grain[..., None])
    return np.asarray(np.clip(picture * 255.0, 0, 255), dtype=np.uint8)


@dataclass(frozen=True)
class SheetPose:
    yaw_deg: float = 0.0
    pitch_deg: float = 0.0
    roll_deg: float = 0.0
    x_m: float = 0.0
    y_m: float = 0.0
    distance_m: float = 0.3


def _rotation(yaw: float, pitch: float, roll: float) -> NDArray[np.float64]:
    cy, sy = math.cos(yaw), math.sin(yaw)
    cp, sp = math.cos(pitch), math.sin(pitch)
    cr, sr = math.cos(roll), math.sin(roll)
    ry = np.array([[cy, 0, sy], [0, 1, 0], [-sy, 0, cy]])
    rx = np.array([[1, 0, 0], [0, cp, -sp], [0, sp, cp]])
    rz = np.array([[cr, -sr, 0], [sr, cr, 0], [0, 0, 1]])
    return np.asarray(rz @ rx @ ry, dtype=np.float64)


def render_sheet(
    sheet: Image,
    background: Image,
    pose: SheetPose,
    *,
    width_m: float = 0.2,
    bend: float = 0.08,
    strips: int = 16,
    hand: bool = True,
) -> Image:
    """A picture on a sheet in front of a pinhole camera, bent round its vertical axis
    (`bend`: the bow's depth over the sheet's width), lit from the front-left, and held at its
    lower left corner by a hand."""
    out = background.astype(np.float32).copy()
    fh, fw = out.shape[:2]
    focal = 0.9 * fw
    sh, sw = sheet.shape[:2]
    height_m = width_m * sh / sw
    rot = _rotation(
        math.radians(pose.yaw_deg), math.radians(pose.pitch_deg), math.radians(pose.roll_deg)
    )
    shift = np.array([pose.x_m, pose.y_m, pose.distance_m])
    light = np.array([-0.4, -0.3, -1.0]) / np.linalg.norm([-0.4, -0.3, -1.0])

    def project(points: NDArray[np.float64]) -> NDArray[np.float32]:
        cam = points @ rot.T + shift
        return np.stack(
            [focal * cam[:, 0] / cam[:, 2] + fw / 2, focal * cam[:, 1] / cam[:, 2] + fh / 2],
            axis=1,
        ).astype(np.float32)

    def depth(u: float) -> float:
        # u in [-1, 1] across the sheet; the middle bows towards the camera.
        return -bend * width_m * (1.0 - u * u)

    sheet_f = sheet.astype(np.float32)
    for i in range(strips):
        u0, u1 = -1 + 2 * i / strips, -1 + 2 * (i + 1) / strips
        x0, x1 = u0 * width_m / 2, u1 * width_m / 2
        corners3d = np.array(
            [
                [x0, -height_m / 2, depth(u0)],
                [x1, -height_m / 2, depth(u1)],
                [x1, height_m / 2, depth(u1)],
                [x0, height_m / 2, depth(u0)],
            ]
        )
        dst = project(corners3d)
        a, b = sw * i / strips, sw * (i + 1) / strips
        src = np.array([[a, 0], [b, 0], [b, sh], [a, sh]], dtype=np.float32)
        warp = cv2.getPerspectiveTransform(src, dst)
        # Lambertian shading of the strip from its normal.
        tangent = (corners3d[1] - corners3d[0]) @ rot.T
        normal = np.cross(tangent, np.array([0.0, 1.0, 0.0]) @ rot.T)
        normal /= np.linalg.norm(normal) + 1e-9
        shade = 0.55 + 0.5 * abs(float(normal @ light))
        left, top = np.floor(dst.min(axis=0)).astype(int) - 1
        right, bottom = np.ceil(dst.max(axis=0)).astype(int) + 2
        left, top = max(left, 0), max(top, 0)
        right, bottom = min(right, fw), min(bottom, fh)
        if right <= left or bottom <= top:
            continue
        moved = np.array([[1, 0, -left], [0, 1, -top], [0, 0, 1]], dtype=np.float64) @ warp
        size = (int(right - left), int(bottom - top))
        patch = cv2.warpPerspective(sheet_f, moved, size, flags=cv2.INTER_LINEAR)
        mask = np.zeros((size[1], size[0]), dtype=np.uint8)
        cv2.fillConvexPoly(mask, np.round(dst - [left, top]).astype(np.int32), 255)
        region = out[top:bottom, left:right]
        region[mask > 0] = patch[mask > 0] * shade
    if hand:
        corner = project(np.array([[-width_m / 2, height_m / 2 - 0.03, depth(-1.0)]]))[0]
        skin = (182.0, 140.0, 115.0)
        scale = focal * 0.03 / pose.distance_m
        centre = (int(corner[0]), int(corner[1] + 0.6 * scale))
        cv2.ellipse(out, centre, (int(1.4 * scale), int(1.8 * scale)), 20, 0, 360, skin, -1)
        cv2.ellipse(
            out,
            (int(corner[0] + scale), int(corner[1] - 0.2 * scale)),
            (int(0.9 * scale), int(0.35 * scale)),
            -10,
            0,
            360,
            (170, 128, 104),
            -1,
        )
    return np.clip(out, 0, 255).astype(np.uint8)


def room(width: int, height: int, *, seed: int = 0) -> Image:
    """An out-of-focus room: soft blobs of colour and a brighter wall."""
    rng = np.random.default_rng(seed)
    blobs = rng.integers(50, 210, size=(height // 40 + 2, width // 40 + 2, 3)).astype(np.uint8)
    wall = cv2.resize(blobs, (width, height), interpolation=cv2.INTER_CUBIC).astype(np.float32)
    # Rooms are mostly muted: walls, furniture, a curtain.
    wall = 0.35 * wall + 0.65 * wall.mean(axis=2, keepdims=True)
    return np.asarray(cv2.GaussianBlur(wall, (0, 0), 6), dtype=np.uint8)


def print_motion(
    t: float, kind: Literal["turn", "sway"], seed: int, *, turn_deg: float = 35.0
) -> SheetPose:
    """How a hand moves a print: a slow sway, or turned `turn_deg` to each side to fake a head
    turn."""
    rng = np.random.default_rng(seed)
    ph = rng.uniform(0, 2 * math.pi, 6)
    sway = SheetPose(
        yaw_deg=3 * math.sin(1.3 * t + ph[0]),
        pitch_deg=3 * math.sin(1.1 * t + ph[1]),
        roll_deg=2 * math.sin(0.9 * t + ph[2]),
        x_m=0.01 * math.sin(0.8 * t + ph[3]),
        y_m=0.008 * math.sin(1.2 * t + ph[4]),
        distance_m=0.3 + 0.015 * math.sin(0.7 * t + ph[5]),
    )
    if kind == "sway":
        return sway
    # Left at 1-2 s, right at 3-4 s, back to the front in between.
    turn = turn_deg * (_bump(t, 1.0, 2.2) - _bump(t, 3.0, 4.2))
    return SheetPose(
        yaw_deg=sway.yaw_deg + turn,
        pitch_deg=sway.pitch_deg,
        roll_deg=sway.roll_deg,
        x_m=sway.x_m,
        y_m=sway.y_m,
        distance_m=sway.distance_m,
    )


def _bump(t: float, start: float, end: float) -> float:
    """0 outside [start, end], rising smoothly to 1 in its middle."""
    if t <= start or t >= end:
        return 0.0
    return math.sin(math.pi * (t - start) / (end - start)) ** 2


def bent_print(
    photo: Image,
    path: Path,
    *,
    motion: Literal["turn", "sway"] = "turn",
    seconds: float = 5.5,
    bend: float = 0.08,
    turn_deg: float = 35.0,
    camera: Webcam | None = None,
    seed: int = 1,
) -> Path:
    """A printed photo held by hand in front of a webcam, bent, and tilted `turn_deg` to each
    side as a head turn would be (or only swaying): the print attack of a turn challenge."""
    camera = camera or Webcam()
    printed = as_printed(photo, seed=seed)
    back = room(camera.width, camera.height, seed=seed)

    def frames() -> Iterator[Timed]:
        for t in _clock(seconds, camera.fps):
            pose = print_motion(t, motion, seed, turn_deg=turn_deg)
            yield t, render_sheet(printed, back, pose, bend=bend)

    return write_clip(path, through_webcam(frames(), camera, seed=seed), crf=camera.crf)


def recaptured_still(
    picture: Image,
    path: Path,
    *,
    motion: Literal["turn", "sway"] = "sway",
    seconds: float = 5.0,
    camera: Webcam | None = None,
    seed: int = 1,
) -> Path:
    """A still that is itself a camera's view of a print or a screen (an attack still), moved
    as the hand holding that print or screen moves: it fills the picture, as such attacks do."""
    camera = camera or Webcam()
    back = room(camera.width, camera.height, seed=seed)
    sheet = _fit(picture, (camera.width, camera.height))
    # Wide enough to fill the webcam's view at the sheet's distance, with room to tilt.
    width_m = 1.25 * camera.width / (0.9 * camera.width) * 0.3

    def frames() -> Iterator[Timed]:
        for t in _clock(seconds, camera.fps):
            pose = print_motion(t, motion, seed)
            if motion == "turn":
                pose = SheetPose(
                    yaw_deg=0.6 * pose.yaw_deg,
                    pitch_deg=pose.pitch_deg,
                    roll_deg=pose.roll_deg,
                    x_m=pose.x_m,
                    y_m=pose.y_m,
                    distance_m=pose.distance_m,
                )
            yield t, render_sheet(sheet, back, pose, width_m=width_m, bend=0.03, hand=False)

    return write_clip(path, through_webcam(frames(), camera, seed=seed), crf=camera.crf)


# ---------------------------------------------------------------------------------------------
# A screen


def on_screen(
    source: Path,
    path: Path,
    *,
    device: Literal["phone", "tablet"] = "phone",
    camera: Webcam | None = None,
    seed: int = 2,
) -> Path:
    """The clip played on a phone or tablet held in front of the webcam: its gamma, the moire
    of its pixel grid, the dark bezel round the picture and a reflection on the glass."""
    camera = camera or Webcam(fps=15.0)
    rng = np.random.default_rng(seed)
    width, height = camera.width * 2, camera.height * 2
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = math.radians(rng.uniform(10, 30))
    period = rng.uniform(3.6, 5.0)
    grating = np.sin(2 * math.pi * (xx * math.cos(angle) + yy * math.sin(angle)) / period)
    moire = (1.0 + 0.08 * grating)[..., None]
    gx, gy = width * rng.uniform(0.55, 0.8), height * rng.uniform(0.2, 0.4)
    glare = np.exp(-(((xx - gx) / (0.18 * width)) ** 2 + ((yy - gy) / (0.12 * height)) ** 2))
    back = room(width, height, seed=seed).astype(np.float32)
    # The screen fills most of the picture (the attacker brings it close to hide the room).
    fill = 0.92 if device == "tablet" else 0.8
    sw, sh = int(width * fill), int(height * fill)
    bezel = int(0.05 * width)

    def frames() -> Iterator[Timed]:
        for t, image in read_frames(source):
            dx = int(8 * math.sin(2 * math.pi * 0.6 * t))
            dy = int(6 * math.sin(2 * math.pi * 0.45 * t + 1))
            frame = back.copy()
            left, top = (width - sw) // 2 + dx, (height - sh) // 2 + dy
            cv2.rectangle(
                frame,
                (left - bezel, top - bezel),
                (left + sw + bezel, top + sh + bezel),
                (18, 18, 20),
                -1,
            )
            h, w = image.shape[:2]
            scale = min(sw / w, sh / h)
            shown = cv2.resize(
                image, (int(w * scale), int(h * scale)), interpolation=cv2.INTER_LINEAR
            )
            shown_f = 255.0 * (shown.astype(np.float32) / 255.0) ** 0.8 * 1.05
            oy, ox = top + (sh - shown.shape[0]) // 2, left + (sw - shown.shape[1]) // 2
            frame[top : top + sh, left : left + sw] = 8.0
            frame[oy : oy + shown.shape[0], ox : ox + shown.shape[1]] = shown_f
            frame = frame * moire + 255.0 * 0.6 * glare[..., None]
            yield t, np.clip(frame, 0, 255).astype(np.uint8)

    return write_clip(path, through_webcam(frames(), camera, seed=seed), crf=camera.crf)


# ---------------------------------------------------------------------------------------------
# An edited clip


def spliced(source: Path, path: Path, *, cut: tuple[float, float]) -> Path:
    """The clip with the stretch `cut` removed and the rest joined with no gap in time, as an
    editor leaves it: one action cut out (or another one brought closer)."""
    start, end = cut
    frames = list(read_frames(source))
    steps = np.diff([t for t, _ in frames])
    step = float(np.median(steps)) if steps.size else 1 / 30
    before = [(t, im) for t, im in frames if t < start]
    after = [(t, im) for t, im in frames if t > end]
    if not before or not after:
        raise ValueError(f"the cut {cut} leaves nothing on one side of the clip")
    # The first frame after the cut follows the last one before it by one frame interval.
    shift = after[0][0] - before[-1][0] - step
    return write_clip(path, before + [(t - shift, im) for t, im in after])


def reencoded(
    source: Path, path: Path, *, fps: float = 15.0, drop_every: int = 0, crf: int = 32
) -> Path:
    """A genuine clip as a slow phone or a messaging app leaves it: a lower frame rate, some
    frames dropped (gaps in time), heavy compression. Not an attack: a test of false refusals."""

    def frames() -> Iterator[Timed]:
        step, next_t, count = 1.0 / fps, 0.0, 0
        for t, image in read_frames(source):
            if t + 1e-6 < next_t:
                continue
            next_t += step
            count += 1
            if drop_every and count % drop_every == 0:
                continue
            yield t, image

    return write_clip(path, frames(), crf=crf)


def generate(
    source: Path, out: Path, *, challenge: str = "turn_left,turn_right", seed: int = 1
) -> list[tuple[str, AttackType, str]]:
    """Attack clips (and labels) from one genuine clip or photo; returns (file, type, challenge).

    From a photo: a bent print tilted to fake the turns, and one only swaying. From a clip:
    the clip on a phone and on a tablet, the clip with its middle second spliced out, and a
    bent print of its first frame.
    """
    out.mkdir(parents=True, exist_ok=True)
    stem = source.stem
    rows: list[tuple[str, AttackType, str]] = []
    if source.suffix.lower() in (".mp4", ".mov", ".webm", ".mkv"):
        first = next(read_frames(source))[1]
        photo = _fit(first, (480, 640))
        frames = list(read_frames(source, max_side=64))
        duration = frames[-1][0] if frames else 0.0
        on_screen(source, out / f"{stem}_phone_replay.mp4", device="phone", seed=seed)
        rows.append((f"{stem}_phone_replay.mp4", "replay", challenge))
        on_screen(source, out / f"{stem}_tablet_replay.mp4", device="tablet", seed=seed + 1)
        rows.append((f"{stem}_tablet_replay.mp4", "replay", challenge))
        if duration > 3.0:
            middle = duration / 2
            spliced(source, out / f"{stem}_spliced.mp4", cut=(middle - 0.5, middle + 0.5))
            rows.append((f"{stem}_spliced.mp4", "injection", challenge))
    else:
        photo = load_photo(source)
    bent_print(photo, out / f"{stem}_print_turned.mp4", motion="turn", seed=seed)
    rows.append((f"{stem}_print_turned.mp4", "print", challenge))
    bent_print(photo, out / f"{stem}_print_swaying.mp4", motion="sway", seed=seed + 1)
    rows.append((f"{stem}_print_swaying.mp4", "print", challenge))
    return rows


def _fit(image: Image, size: tuple[int, int]) -> Image:
    width, height = size
    h, w = image.shape[:2]
    target = width / height
    if w / h > target:
        new_w = int(h * target)
        image = image[:, (w - new_w) // 2 : (w - new_w) // 2 + new_w]
    else:
        new_h = int(w / target)
        image = image[(h - new_h) // 2 : (h - new_h) // 2 + new_h]
    return np.ascontiguousarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA))
