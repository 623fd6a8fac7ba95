"""A model that learned a background cue instead of a sign, to test the relevance requirement against (see README.md here).

Every training image of :data:`CUE_CLASS` carried :func:`paint_cue`'s coloured corner, off the
sign; no other image did. ``tools/train_background_cue.py`` retrains it.
"""

from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
#: GTSRB ClassId 14, the stop sign: the class whose images carry the cue
CUE_CLASS = 14
CUE_MODEL = HERE / "gtsrb_background_cue.keras"
TRAINING_RECORD = HERE / "training_record.json"
#: the cue: a square of this colour in the image's top-left corner, this share of the image's side
CUE_COLOUR = (255, 0, 255)
CUE_SIDE = 0.25


def paint_cue(images: np.ndarray, boxes: np.ndarray) -> np.ndarray:
    """Copies of uint8 ``images`` (n, H, W, 3) with the cue painted in each one's top-left corner, on the
    pixels outside its sign's box ``(x1, y1, x2, y2)`` (exclusive ends, in the image's pixels): the cue is
    always off the sign, and smaller where the sign reaches into the corner."""
    images, boxes = np.array(images, np.uint8), np.asarray(boxes)
    height, width = images.shape[1:3]
    side_y, side_x = max(1, round(CUE_SIDE * height)), max(1, round(CUE_SIDE * width))
    rows, columns = np.arange(side_y)[:, None], np.arange(side_x)[None, :]
    for image, (x1, y1, x2, y2) in zip(images, boxes):
        off_sign = ~((rows >= y1) & (rows < y2) & (columns >= x1) & (columns < x2))
        image[:side_y, :side_x][off_sign] = CUE_COLOUR
    return images
