"""Reading data ingests: layout detection, labels, content hash, batched decoding."""

from safety_harness.ingest.layouts import IMAGE_SUFFIXES, ImageRecord
from safety_harness.ingest.reader import (
           INTERPOLATIONS,
           ImageBatch,
           Ingest,
           decode_image,
           iter_image_batches,
           load_image,
           open_ingest,
)

__all__ = ["IMAGE_SUFFIXES", "INTERPOLATIONS", "ImageBatch", "ImageRecord", "Ingest", "decode_image",
           "iter_image_batches", "load_image", "open_ingest"]
