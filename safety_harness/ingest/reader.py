"""An opened ingest: its records, its content hash, and its images decoded in bounded batches."""

import functools
import hashlib
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image, ImageOps

from safety_harness.ingest.class_names import FolderClasses
from safety_harness.ingest.layouts import ImageRecord, detect_layout

#: the most pixels an image may declare unless the run raises the cap (``--max-image-pixels``): 8192 x 8192.
#: A larger one is refused before its pixels are decoded, as a possible decompression bomb (a small file
#: that decodes to gigabytes). Pillow's own check (one value for the whole process, only a warning up to
#: twice it) is off: this cap, checked on the size the file declares, is the one limit.
MAX_IMAGE_PIXELS = 8192 * 8192
Image.MAX_IMAGE_PIXELS = None
#: how a decoding failure of an image over the size cap begins (the run's message says how to raise the cap)
OVER_SIZE_CAP = "over the size cap"

INTERPOLATIONS = {
    "nearest": cv2.INTER_NEAREST,
    "bilinear": cv2.INTER_LINEAR,
    "bicubic": cv2.INTER_CUBIC,
    "area": cv2.INTER_AREA,
}
#: Pillow's filters by the same names (area: its BOX); its bilinear and bicubic widen their support when
#: shrinking (antialiasing), OpenCV's do not, so the two libraries' resized images differ
PIL_FILTERS = {
    "nearest": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "bicubic": Image.Resampling.BICUBIC,
    "area": Image.Resampling.BOX,
}
#: the resize methods :func:`resize_rgb` knows: OpenCV's by their names, Pillow's as ``pil:`` and their names
RESIZE_METHODS = (*INTERPOLATIONS, *(f"pil:{name}" for name in PIL_FILTERS))


#: a file changed less than this before its manifest was taken may change again within the clock's
#: granularity without moving its times: its manifest is not trusted to stand for its content ("racy git")
RACY_WINDOW_NS = 2_000_000_000


@dataclass(frozen=True)
class Manifest:
    """An ingest's files as ``os.stat`` describes them: ``sha256`` over them, and the newest change time."""

    sha256: str
    newest_change_ns: int

    def trustworthy(self, taken_ns: int) -> bool:
        """Whether it may stand for the content hashed at ``taken_ns`` (``time.time_ns()``): no file
        changed within :data:`RACY_WINDOW_NS` before."""
        return self.newest_change_ns < taken_ns - RACY_WINDOW_NS


@dataclass(frozen=True)
class Ingest:
    """The data to validate on, as found on disk."""

    root: Path
    layout: str
    label_files: tuple[Path, ...]
    records: tuple[ImageRecord, ...]
    #: ``(path, reason)`` for every entry of the ingest folder its layout does not read (not hashed)
    ignored: tuple[tuple[Path, str], ...] = ()
    #: how its layout read the labels and found the images, in a sentence
    reading: str = ""
    #: ``(folder name, class id)`` of each class folder named by class name
    folder_classes: tuple[tuple[str, int], ...] = ()

    @property
    def label_file(self) -> Path | None:
        return self.label_files[0] if len(self.label_files) == 1 else None

    @property
    def labelled(self) -> bool:
        return all(record.label is not None for record in self.records)

    @functools.cached_property
    def labels(self) -> np.ndarray:
        """ClassId per record, -1 where unlabelled."""
        return np.array([-1 if r.label is None else r.label for r in self.records], dtype=np.int64)

    def class_counts(self) -> dict[int, int]:
        labels, counts = np.unique(self.labels[self.labels >= 0], return_counts=True)
        return {int(label): int(count) for label, count in zip(labels, counts)}

    def _files(self) -> list[Path]:
        return sorted({*self.label_files, *(r.path for r in self.records)})

    def manifest(self) -> "Manifest":
        """What ``os.stat`` says of every label file and image (no byte is read): relative path, size,
        modification and change times (ns) and inode, hashed. An unchanged manifest is taken to mean
        unchanged content, as git's index and rsync take it: writing a file moves at least its change
        time, which no user call can set back."""
        digest, newest = hashlib.sha256(), 0
        root = self.root.resolve()
        for path in self._files():
            status = path.stat()
            digest.update(f"{path.relative_to(root).as_posix()}\0{status.st_size}\0{status.st_mtime_ns}\0"
                          f"{status.st_ctime_ns}\0{status.st_ino}\0".encode())
            newest = max(newest, status.st_ctime_ns)
        return Manifest(digest.hexdigest(), newest)

    @functools.cached_property
    def _sha256(self) -> str:
        digest = hashlib.sha256()
        for path in self._files():
            digest.update(path.relative_to(self.root.resolve()).as_posix().encode() + b"\0")
            with path.open("rb") as handle:
                for chunk in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(chunk)
        return digest.hexdigest()

    def content_sha256(self) -> str:
        """SHA-256 over every label file and image: relative path and bytes, in sorted order."""
        return self._sha256

    @functools.cached_property
    def order_sha256(self) -> str:
        """SHA-256 over the records' relative paths in record order: which image each index stands for.
        The content hash is order-free, and one folder can be read in two orders (numeric class folders
        by class id, or by folder name through a class map)."""
        root = self.root.resolve()
        return hashlib.sha256("\0".join(r.path.relative_to(root).as_posix() for r in self.records).encode()).hexdigest()


def open_ingest(path, folder_classes: FolderClasses | None = None) -> Ingest:
    """Detect the layout of ``path`` and read its labels (no image is decoded here); class folders named by
    class name are matched to ``folder_classes`` (None: they are not read)."""
    root = Path(os.path.realpath(path))  # a link loop is reported as a missing folder, not raised
    source = detect_layout(root, folder_classes)
    return Ingest(root, source.layout, source.label_files, source.records, source.ignored, source.reading,
                  source.folder_classes)


class StoredImages(Sequence):
    """The images of an ingest's records at their stored sizes, decoded when indexed (memory stays one image);
    an image that cannot be decoded reads as one flat gray pixel (it is never evaluated)."""

    def __init__(self, ingest: Ingest, max_pixels: int = MAX_IMAGE_PIXELS):
        self._records, self._max_pixels = ingest.records, max_pixels

    def __len__(self) -> int:
        return len(self._records)

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        try:
            return decode_image(self._records[index].path, None, max_pixels=self._max_pixels)
        except ValueError:
            return np.full((1, 1, 3), 128, np.uint8)


@dataclass(frozen=True)
class ImageBatch:
    """Decoded images of one batch. ``indices`` are positions in ``ingest.records`` of the images
    that decoded; ``failures`` lists ``(index, reason)`` for those that did not."""

    indices: np.ndarray
    images: np.ndarray
    rois: np.ndarray
    failures: list


def scaled_roi(record: ImageRecord, size) -> np.ndarray:
    """The sign box in the output image; -1s when unknown.

    The annotation was drawn on an image of ``declared_size``; a file of another size was
    resized whole (e.g. the 32x32 copies of GTSRB), so the box scales with it."""
    if record.roi is None:
        return np.full(4, -1, dtype=np.int32)
    declared_w, declared_h = record.declared_size
    out_h, out_w = size
    sx, sy = out_w / declared_w, out_h / declared_h
    x1, y1, x2, y2 = record.roi
    box = np.array([np.floor(x1 * sx), np.floor(y1 * sy), np.ceil(x2 * sx), np.ceil(y2 * sy)])
    return np.clip(box, 0, [out_w, out_h, out_w, out_h]).astype(np.int32)


class _OverSizeCap(ValueError):
    """The image declares more pixels than the run's cap."""


def decode_image(path: Path, size: tuple[int, int] | None, interpolation: str = "area",
                 max_pixels: int = MAX_IMAGE_PIXELS) -> np.ndarray:
    """uint8 RGB (H, W, 3) at ``size`` (height, width; None: as stored), turned upright as its EXIF
    orientation says; raises ``ValueError`` when unreadable, or when the file declares more than
    ``max_pixels`` pixels (checked before any pixel is decoded)."""
    try:
        with Image.open(path) as image:
            width, height = image.size
            if width * height > max_pixels:
                raise _OverSizeCap(f"{OVER_SIZE_CAP} against decompression bombs: the image is {width} x {height} "
                                   f"= {width * height:,} pixels, the cap {max_pixels:,}; if the file is genuine, "
                                   f"raise the cap with --max-image-pixels={width * height}")
            image.load()  # a truncated file fails here, not later
            ImageOps.exif_transpose(image, in_place=True)
            rgb = _rgb8(image)
        if size is not None:
            rgb = resize_rgb(rgb, size, interpolation)
    except _OverSizeCap:
        raise
    # a hostile file makes Pillow raise many types (OSError, ValueError, struct.error, EOFError, ...):
    # each is this file's decoding failure, never the run's
    except Exception as error:
        raise ValueError(f"cannot decode image ({error})") from None
    return rgb


def resize_rgb(rgb: np.ndarray, size: tuple[int, int], interpolation: str) -> np.ndarray:
    """uint8 (H, W, C) at ``size`` (height, width) by ``interpolation`` (one of :data:`RESIZE_METHODS`);
    unchanged when already that size."""
    height, width = size
    if rgb.shape[:2] == (height, width):
        return rgb
    if interpolation.startswith("pil:"):
        return np.asarray(Image.fromarray(rgb).resize((width, height), PIL_FILTERS[interpolation[4:]]))
    return cv2.resize(rgb, (width, height), interpolation=INTERPOLATIONS[interpolation])


def _rgb8(image: Image.Image) -> np.ndarray:
    """8-bit RGB pixels; 16-bit samples (Pillow's "I;16*" and "I" modes) keep their high byte, as Pillow
    does for 48-bit RGB (``convert("RGB")`` would clip them to white)."""
    if image.mode.startswith("I"):
        gray = (np.clip(np.asarray(image, dtype=np.int64), 0, 65535) >> 8).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    return np.asarray(image.convert("RGB"))


def load_image(record: ImageRecord, size: tuple[int, int], interpolation: str) -> np.ndarray:
    return decode_image(record.path, size, interpolation)


def _decode_one(record, size, interpolation, max_pixels):
    try:
        return decode_image(record.path, size, interpolation, max_pixels), None
    except ValueError as error:
        return None, str(error)


def iter_image_batches(ingest: Ingest, size, interpolation: str, batch_size: int = 256, indices=None,
                       max_pixels: int = MAX_IMAGE_PIXELS):
    """Yield :class:`ImageBatch` es in record order; memory is bounded by ``batch_size``. An image over
    ``max_pixels`` is a failure of that image (:func:`decode_image`)."""
    if interpolation not in RESIZE_METHODS:
        raise ValueError(f"interpolation must be one of {list(RESIZE_METHODS)}, got {interpolation!r}")
    size = tuple(int(s) for s in size)
    order = np.arange(len(ingest.records)) if indices is None else np.asarray(indices, dtype=np.int64)
    with ThreadPoolExecutor(max_workers=2) as pool:
        for start in range(0, len(order), batch_size):
            chunk = order[start:start + batch_size]
            records = [ingest.records[i] for i in chunk]
            decoded = list(pool.map(lambda r: _decode_one(r, size, interpolation, max_pixels), records))
            ok = [k for k, (image, _) in enumerate(decoded) if image is not None]
            images = np.stack([decoded[k][0] for k in ok]) if ok else np.zeros((0, *size, 3), np.uint8)
            rois = np.stack([scaled_roi(records[k], size) for k in ok]) if ok else np.zeros((0, 4), np.int32)
            failures = [(int(chunk[k]), reason) for k, (image, reason) in enumerate(decoded) if image is None]
            yield ImageBatch(chunk[ok], images, rois, failures)
