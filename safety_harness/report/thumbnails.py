"""Small images for the report: PNG bytes of a thumbnail, and a gallery of thumbnails stored in the bundle."""

import io

import numpy as np
from PIL import Image

from safety_harness.evidence.document import Gallery


def png_bytes(image: np.ndarray, scale: int = 2) -> bytes:
    """PNG of a uint8 RGB (H, W, 3) or grey (H, W) image, enlarged ``scale`` times."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"image must be uint8, got {image.dtype}")
    if scale > 1:
        image = image.repeat(scale, axis=0).repeat(scale, axis=1)
    buffer = io.BytesIO()
    # zlib's default level: "optimize" makes each thumbnail about 12x slower for under 1 % fewer bytes
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def thumbnail_gallery(store, images, captions, title: str, scale: int = 2) -> Gallery:
    """A captioned row of thumbnails, each stored enlarged ``scale`` times (the page shows them at one size)."""
    figures = [{"pictures": [store.picture(image, caption, scale)], "caption": caption}
               for image, caption in zip(images, captions)]
    return Gallery(kind="gallery", title=title, note=None, figure_class="thumbnail", failed_sanity_check=False,
                   figures=figures)
