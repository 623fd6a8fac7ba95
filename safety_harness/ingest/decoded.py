"""An ingest decoded once per session, read back as bytes by every later pass over it.

Each perturbed condition reads the same decoded, resized images; decoding and resizing the files
again for each would cost more than perturbing them. The decoded rows go to an anonymous
temporary file (gone when the process ends) and are read back batch by batch,
so memory stays bounded by the batch whatever the ingest's size.
"""

import tempfile

import numpy as np

from safety_harness.ingest.reader import ImageBatch, Ingest, scaled_roi


class DecodedIngest:
    """Rows of ``ingest`` decoded at ``size`` (height, width), written by :meth:`keep` and read by
    :meth:`batches`."""

    def __init__(self, ingest: Ingest, size):
        self.ingest = ingest
        self.size = tuple(int(s) for s in size)
        self._row_bytes = self.size[0] * self.size[1] * 3
        self._kept = np.zeros(len(ingest.records), dtype=bool)
        self._file = tempfile.TemporaryFile(prefix="decoded-ingest-")

    def keep(self, batches):
        """Pass ``batches`` (:class:`ImageBatch` es of this ingest at this size) through, keeping their images."""
        for batch in batches:
            for start, stop in _runs(batch.indices):
                self._file.seek(int(batch.indices[start]) * self._row_bytes)
                self._file.write(np.ascontiguousarray(batch.images[start:stop]).tobytes())
            self._kept[batch.indices] = True
            yield batch

    def holds(self, indices) -> bool:
        return bool(self._kept[np.asarray(indices, dtype=np.int64)].all())

    def batches(self, indices, batch_size: int):
        """:class:`ImageBatch` es of ``indices`` (all kept) in the given order, ``batch_size`` at a time."""
        indices = np.asarray(indices, dtype=np.int64)
        if not self.holds(indices):
            raise ValueError("indices must all have been kept")
        for first in range(0, len(indices), batch_size):
            chunk = indices[first:first + batch_size]
            images = np.empty((len(chunk), *self.size, 3), dtype=np.uint8)
            for start, stop in _runs(chunk):
                self._file.seek(int(chunk[start]) * self._row_bytes)
                data = self._file.read((stop - start) * self._row_bytes)
                images[start:stop] = np.frombuffer(data, dtype=np.uint8).reshape(stop - start, *self.size, 3)
            rois = np.stack([scaled_roi(self.ingest.records[i], self.size) for i in chunk])
            yield ImageBatch(chunk, images, rois, [])


def _runs(indices):
    """``(start, stop)`` positions of the runs of consecutive values in ``indices``."""
    if not len(indices):
        return []
    breaks = np.flatnonzero(np.diff(indices) != 1) + 1
    edges = [0, *breaks.tolist(), len(indices)]
    return list(zip(edges[:-1], edges[1:]))
