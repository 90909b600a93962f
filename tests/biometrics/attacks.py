"""Make attack and bad-input clips from the real fixtures, each named after what it stands for."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import av
import cv2
import numpy as np

# Reading, writing and loading are shared with the attack generator of `lifecert gen-attacks`.
from biometrics.attacks import Image, Timed, load_photo, read_frames, write_clip

__all__ = ["Image", "Timed", "load_photo", "read_frames", "write_clip"]


def _clock(seconds: float, fps: float) -> list[float]:
    return [i / fps for i in range(int(seconds * fps))]


def still_photo_as_video(photo: Image, path: Path, *, seconds: float = 4.0) -> Path:
    """A photo shown unchanged: a still picture injected as the camera feed."""
    return write_clip(path, ((t, photo) for t in _clock(seconds, 30)))


def handheld_print(photo: Image, path: Path, *, seconds: float = 5.0, seed: int = 1) -> Path:
    """A printed photo held in a hand in front of the camera: moved, tilted and turned in
    3-D (a perspective warp changing over time), over a room, with camera noise."""
    rng = np.random.default_rng(seed)
    height, width = 720, 540
    room = cv2.GaussianBlur(
        rng.integers(60, 200, size=(height // 20, width // 20, 3), dtype=np.uint8), (3, 3), 0
    )
    room = cv2.resize(room, (width, height), interpolation=cv2.INTER_CUBIC)
    card = cv2.resize(photo, (360, 480), interpolation=cv2.INTER_AREA)
    ch, cw = card.shape[:2]
    corners = np.float32([[0, 0], [cw, 0], [cw, ch], [0, ch]])

    def frames() -> Iterator[Timed]:
        for t in _clock(seconds, 30):
            # Slow sways of a hand: a few centimetres, ~10 degrees of tilt, some turning.
            dx = 40 * math.sin(2 * math.pi * 0.4 * t)
            dy = 25 * math.sin(2 * math.pi * 0.3 * t + 1)
            zoom = 1.0 + 0.08 * math.sin(2 * math.pi * 0.25 * t)
            tilt = 0.12 * math.sin(2 * math.pi * 0.35 * t)
            turn = 0.10 * math.sin(2 * math.pi * 0.5 * t + 2)
            centre = np.float32([width / 2 + dx, height / 2 + dy])
            half = np.float32([cw / 2, ch / 2]) * zoom
            base = np.float32([[-1, -1], [1, -1], [1, 1], [-1, 1]]) * half
            # Perspective: the edge turned away gets shorter.
            base[:, 0] *= np.float32([1 - tilt, 1 + tilt, 1 + tilt, 1 - tilt])
            base[:, 1] *= np.float32([1 - turn, 1 - turn, 1 + turn, 1 + turn])
            target = base + centre
            warp = cv2.getPerspectiveTransform(corners, target.astype(np.float32))
            frame = room.copy()
            cv2.warpPerspective(
                card, warp, (width, height), dst=frame, borderMode=cv2.BORDER_TRANSPARENT
            )
            noise = rng.normal(0, 2.0, frame.shape)
            yield t, np.clip(frame + noise, 0, 255).astype(np.uint8)

    return write_clip(path, frames())


def without_spans(source: Path, path: Path, *, spans: Sequence[tuple[float, float]]) -> Path:
    """The clip with some stretches cut out and the rest kept at its original timestamps, as
    an editor's lossless trim leaves it: a recording with the required action removed."""

    def keep(t: float) -> bool:
        return not any(a <= t <= b for a, b in spans)

    return write_clip(path, ((t, im) for t, im in read_frames(source) if keep(t)))


def on_a_screen(source: Path, path: Path, *, seed: int = 2) -> Path:
    """The clip played on a phone held in front of the camera: a dark bezel around a screen
    showing the clip with the moire of its pixel grid, lower contrast and a glare spot."""
    rng = np.random.default_rng(seed)
    height, width = 960, 720
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = math.radians(17)
    # Beat between the screen's pixel grid and the camera's: a fine grating.
    grating = np.sin(2 * math.pi * (xx * math.cos(angle) + yy * math.sin(angle)) / 4.3)
    moire = (1.0 + 0.10 * grating)[..., None]
    glare_centre = (int(width * 0.68), int(height * 0.3))
    glare = np.exp(-(((xx - glare_centre[0]) / 120) ** 2 + ((yy - glare_centre[1]) / 80) ** 2))[
        ..., None
    ]
    room = np.full((height, width, 3), (150, 140, 120), dtype=np.float32)
    room += rng.normal(0, 6, room.shape).astype(np.float32)

    def frames() -> Iterator[Timed]:
        for t, image in read_frames(source):
            shake_x = int(6 * math.sin(2 * math.pi * 0.7 * t))
            shake_y = int(4 * math.sin(2 * math.pi * 0.5 * t + 1))
            frame = room.copy()
            # Phone body, then the screen in it.
            left, top = 70 + shake_x, 110 + shake_y
            cv2.rectangle(frame, (left, top), (left + 580, top + 760), (25, 25, 28), -1)
            screen = cv2.resize(image, (540, 720), interpolation=cv2.INTER_LINEAR)
            screen = screen.astype(np.float32) * 0.8 + 30.0
            region = frame[top + 20 : top + 740, left + 20 : left + 560]
            region[:] = screen
            frame = frame * moire + 255.0 * 0.85 * glare
            yield t, np.clip(frame, 0, 255).astype(np.uint8)

    return write_clip(path, frames(), crf=16)


def duplicated_frames(source: Path, path: Path) -> Path:
    """Each picture shown twice at a steady 30 fps: a 15 fps recording or virtual camera
    passed off as a 30 fps camera."""
    frames = list(read_frames(source))

    def out() -> Iterator[Timed]:
        for i, (_, image) in enumerate(frames[::2]):
            yield (2 * i) / 30.0, image
            yield (2 * i + 1) / 30.0, image

    return write_clip(path, out())


def irregular_timestamps(source: Path, path: Path) -> Path:
    """Timestamps with half-second holes and uneven steps: frames dropped or re-timed by
    an editor."""

    def out() -> Iterator[Timed]:
        shift = 0.0
        for i, (t, image) in enumerate(read_frames(source)):
            if i and i % 40 == 0:
                shift += 0.5
            yield t + shift, image

    return write_clip(path, out())


def screen_recorder_tagged(source: Path, path: Path) -> Path:
    """The genuine clip remuxed with the tags a screen-recording app writes: a recording of
    a video playing on the phone's own screen, submitted as camera video."""
    with av.open(str(source)) as src, av.open(str(path), "w", format="mp4") as out:
        in_stream = src.streams.video[0]
        stream = out.add_stream_from_template(in_stream)
        stream.metadata["handler_name"] = "Screen Recorder"
        out.metadata["encoder"] = "XRecorder screen recorder"
        for packet in src.demux(in_stream):
            if packet.dts is None:
                continue
            packet.stream = stream
            out.mux(packet)
    return path


def side_by_side(left: Path, right: Path, path: Path) -> Path:
    """Two people in the picture at once, both the size of a selfie face."""
    pairs = zip(read_frames(left), read_frames(right), strict=False)
    return write_clip(path, ((a[0], np.hstack([a[1], b[1]])) for a, b in pairs))


def face_leaves(source: Path, path: Path, *, leave_at: float = 0.3) -> Path:
    """The person walks out of the picture part-way: the picture slides off to the side."""
    frames = list(read_frames(source))
    total = frames[-1][0]

    def out() -> Iterator[Timed]:
        for t, image in frames:
            progress = max(0.0, (t - leave_at * total) / (0.15 * total))
            shift = int(min(progress, 1.0) * image.shape[1])
            moved = np.full_like(image, 90)
            if shift < image.shape[1]:
                moved[:, shift:] = image[:, : image.shape[1] - shift]
            yield t, moved

    return write_clip(path, out())


def empty_room(path: Path, *, seconds: float = 3.0) -> Path:
    """A camera pointed at a wall: no face at all."""
    rng = np.random.default_rng(3)
    wall = np.full((480, 640, 3), (180, 170, 150), dtype=np.uint8)
    return write_clip(
        path,
        (
            (t, np.clip(wall + rng.normal(0, 3, wall.shape), 0, 255).astype(np.uint8))
            for t in _clock(seconds, 30)
        ),
    )


def tiny_clip(path: Path, *, size: tuple[int, int], seconds: float, fps: float) -> Path:
    """A flat grey clip: cheap to encode at any size and length, for limit tests."""
    width, height = size
    grey = np.full((height, width, 3), 128, dtype=np.uint8)
    return write_clip(path, ((t, grey) for t in _clock(seconds, fps)) if seconds else [(0.0, grey)])


def mapped(source: Path, path: Path, change: Callable[[Image], Image], **write: object) -> Path:
    """The clip with every frame changed by `change`, e.g. rotated for storage."""
    return write_clip(path, ((t, change(im)) for t, im in read_frames(source)), **write)  # type: ignore[arg-type]


def build_attack_set(fixtures: Path, out: Path) -> Path:
    """Write every attack clip into `out` with a labels.csv (file,label,challenge) for the
    liveness bench, next to copies of nothing: live fixtures are named by relative path."""
    out.mkdir(parents=True, exist_ok=True)
    live = fixtures / "videos" / "live"
    photo = load_photo(fixtures / "faces" / "fr_obama" / "1.jpg")
    poster = load_photo(fixtures / "spoof" / "attack" / "print_poster.jpg")
    rows = [
        ("still_photo.mp4", "blink", lambda p: still_photo_as_video(photo, p)),
        ("handheld_print.mp4", "blink", lambda p: handheld_print(photo, p)),
        ("handheld_poster.mp4", "blink", lambda p: handheld_print(poster, p, seed=5)),
        (
            "blinks_cut_out.mp4",
            "blink",
            lambda p: without_spans(live / "liveportrait_driving_d3.mp4", p, spans=BLINK_SPANS_D3),
        ),
        (
            "screen_replay.mp4",
            "blink",
            lambda p: on_a_screen(live / "liveportrait_driving_d14.mp4", p),
        ),
        (
            "duplicated_frames.mp4",
            "blink",
            lambda p: duplicated_frames(live / "liveportrait_driving_d0.mp4", p),
        ),
        (
            "irregular_timestamps.mp4",
            "blink",
            lambda p: irregular_timestamps(live / "liveportrait_driving_d3.mp4", p),
        ),
        (
            "screen_recorder_tag.mp4",
            "blink",
            lambda p: screen_recorder_tagged(live / "liveportrait_driving_d14.mp4", p),
        ),
    ]
    lines = ["file,label,challenge"]
    for name, challenge, make in rows:
        make(out / name)
        lines.append(f'{name},attack,"{challenge}"')
    # A recording made for another challenge: d0 opens the mouth before it blinks.
    lines.append(f'{live / "liveportrait_driving_d0.mp4"},attack,"blink,open_mouth"')
    for clip, challenge in (
        ("liveportrait_driving_d0.mp4", "open_mouth"),
        ("liveportrait_driving_d3.mp4", "blink"),
        ("liveportrait_driving_d6.mp4", "blink"),
        ("liveportrait_driving_d13.mp4", "blink"),
        ("liveportrait_driving_d14.mp4", "blink"),
        ("lowres_talking_crop_96x128.mp4", "blink"),
    ):
        lines.append(f"{live / clip},live,{challenge}")
    (out / "labels.csv").write_text("\n".join(lines) + "\n")
    return out / "labels.csv"


# Where d3 blinks (0.4 s, 1.5 s, 1.9 s, 3.7 s in its 11.8 s), with the frames around them.
BLINK_SPANS_D3: tuple[tuple[float, float], ...] = ((0.0, 2.5), (3.2, 4.3))
