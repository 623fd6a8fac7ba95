"""Small images for the report: PNG bytes of a thumbnail, and a gallery of thumbnails stored in the bundle."""

import io

import numpy as np
from PIL import Image

from safety_harness.evidence.document import Gallery


def png_bytes(image: np.ndarray) -> bytes:
    """PNG of a uint8 RGB (H, W, 3) or grey (H, W) image at its own size: the report enlarges pictures in the
    browser (``image-rendering: pixelated``), so a PNG enlarged by repeating pixels would only be larger (2.5
    times, with 114 failing cases' galleries a 10 MB report instead of 4)."""
    image = np.asarray(image)
    if image.dtype != np.uint8:
        raise ValueError(f"image must be uint8, got {image.dtype}")
    buffer = io.BytesIO()
    # zlib's default level: "optimize" makes each thumbnail about 12x slower for under 1 % fewer bytes
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def thumbnail_gallery(store, images, captions, title: str) -> Gallery:
    """A captioned row of thumbnails (the page shows them at one size)."""
    figures = [{"pictures": [store.picture(image, caption)], "caption": caption}
               for image, caption in zip(images, captions)]
    return Gallery(kind="gallery", title=title, note=None, figure_class="thumbnail", failed_sanity_check=False,
                   figures=figures)
