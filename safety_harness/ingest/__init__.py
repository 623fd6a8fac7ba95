"""Reading data ingests: layout detection, labels, content hash, batched decoding."""

from safety_harness.ingest.class_names import FolderClasses, read_class_map
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

__all__ = ["IMAGE_SUFFIXES", "INTERPOLATIONS", "FolderClasses", "ImageBatch", "ImageRecord", "Ingest", "decode_image",
           "iter_image_batches", "load_image", "open_ingest", "read_class_map"]
