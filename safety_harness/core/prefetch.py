"""Producing the next items of an iterator in a background thread while the caller works on the current one.

The prediction stage decodes and perturbs batch ``k + 1`` while the model runs on batch ``k``:
TensorFlow, OpenCV and NumPy release the GIL in their kernels, so on two cores the two overlap.
Items arrive in the iterator's order, so results do not depend on timing.
"""

import queue
import threading
from collections.abc import Iterable, Iterator

_DONE = object()


def prefetched(items: Iterable, depth: int = 1) -> Iterator:
    """Iterate ``items``, computed in a background thread up to ``depth`` items ahead of the caller.

    An exception raised while producing an item is raised to the caller at that item. When the
    caller stops early (``break``, an exception, the generator closed), the producer stops at its
    next item."""
    if depth < 1:
        raise ValueError(f"depth must be >= 1, got {depth}")
    ready: queue.Queue = queue.Queue(maxsize=depth)
    stopped = threading.Event()

    def put(entry) -> bool:
        while not stopped.is_set():
            try:
                ready.put(entry, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def produce():
        try:
            for item in items:
                if not put((item, None)):
                    return
        except BaseException as error:  # handed to the caller, raised there
            put((_DONE, error))
            return
        put((_DONE, None))

    producer = threading.Thread(target=produce, name="prefetch", daemon=True)
    producer.start()
    try:
        while True:
            item, error = ready.get()
            if item is _DONE:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stopped.set()
        producer.join()
