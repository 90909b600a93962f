"""ID-card chip photos: what they look like, for tests and benchmarks of the `id_card` source.

The second-generation resident ID card's chip holds a 102x126 photo: head and shoulders, the
face about 70-90 px wide, lit flat, often stored or converted to grey. `make_id_chip` turns a
photo with a detected face into such a picture, so the gate and the face decision can be
measured on references of that size built from real faces.
"""

from __future__ import annotations

import io

import cv2
import numpy as np
from PIL import Image

from biometrics.decode import RGBImage
from biometrics.face import FaceBox

CHIP_WIDTH = 102
CHIP_HEIGHT = 126


def make_id_chip(
    pixels: RGBImage,
    *,
    box: FaceBox,
    face_px: float = 80.0,
    grey: bool = False,
    flatten: float = 0.0,
    jpeg_quality: int = 75,
    width: int = CHIP_WIDTH,
    height: int = CHIP_HEIGHT,
) -> bytes:
    """A JPEG of `width`x`height` with the face of `box` about `face_px` wide, as on a card.

    The face is centred a little above the middle (ID photos keep room for the shoulders);
    `flatten` (0-1) pulls the contrast towards the mean, as the card's flat light does; the
    parts of the crop outside the source picture are filled with its edge pixels.
    """
    if face_px <= 0 or not 0.0 <= flatten < 1.0:
        raise ValueError("face_px must be positive and flatten in [0, 1)")
    scale = face_px / max(box.width, 1.0)
    cx = (box.left + box.right) / 2.0
    cy = (box.top + box.bottom) / 2.0
    # Source-pixel window that becomes the chip: the face centre at 45% of the height.
    half_w = width / 2.0 / scale
    top = cy - 0.45 * height / scale
    matrix = np.array(
        [[scale, 0.0, -(cx - half_w) * scale], [0.0, scale, -top * scale]], dtype=np.float64
    )
    interpolation = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
    if scale < 0.5:
        # Shrink in one smoothing pass first so the warp does not alias.
        small = cv2.resize(
            pixels,
            (max(1, round(pixels.shape[1] * scale)), max(1, round(pixels.shape[0] * scale))),
            interpolation=cv2.INTER_AREA,
        )
        matrix = np.array(
            [[1.0, 0.0, -(cx - half_w) * scale], [0.0, 1.0, -top * scale]], dtype=np.float64
        )
        chip = cv2.warpAffine(
            small, matrix, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        )
    else:
        chip = cv2.warpAffine(
            pixels, matrix, (width, height), flags=interpolation, borderMode=cv2.BORDER_REPLICATE
        )
    out = np.asarray(chip, dtype=np.float64)
    if flatten > 0.0:
        out = out.mean() + (out - out.mean()) * (1.0 - flatten)
    image = Image.fromarray(np.clip(out, 0, 255).astype(np.uint8), mode="RGB")
    if grey:
        image = image.convert("L")
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=jpeg_quality)
    return buffer.getvalue()
