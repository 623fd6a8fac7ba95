"""The ingest decoded once: read back exactly as decoded, in any order and batch size."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from safety_harness.ingest import iter_image_batches, open_ingest
from safety_harness.ingest.decoded import DecodedIngest
from safety_harness.synthetic.default_ingest import write_ingest


@pytest.fixture(scope="module")
def ingest(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ingest")
    write_ingest(folder, per_class=1, stop_signs=3, seed=5)
    return open_ingest(folder)


@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_kept_rows_read_back_as_decoded(ingest, data):
    decoded = DecodedIngest(ingest, (24, 24))
    direct = list(iter_image_batches(ingest, (24, 24), "area", 16))
    assert [b.indices.tolist() for b in decoded.keep(iter(direct))] == [b.indices.tolist() for b in direct]
    images = np.concatenate([b.images for b in direct])
    rois = np.concatenate([b.rois for b in direct])
    wanted = np.array(data.draw(st.lists(st.integers(0, len(images) - 1), min_size=1, max_size=40)))
    batch_size = data.draw(st.integers(1, 17))
    batches = list(decoded.batches(wanted, batch_size))
    assert np.array_equal(np.concatenate([b.indices for b in batches]), wanted)
    assert np.array_equal(np.concatenate([b.images for b in batches]), images[wanted])
    assert np.array_equal(np.concatenate([b.rois for b in batches]), rois[wanted])
    assert all(len(b.indices) <= batch_size for b in batches)


def test_rows_never_kept_are_refused(ingest):
    decoded = DecodedIngest(ingest, (24, 24))
    list(decoded.keep(iter_image_batches(ingest, (24, 24), "area", 8, indices=[0, 1, 2])))
    assert decoded.holds([2, 0]) and not decoded.holds([3])
    with pytest.raises(ValueError, match="kept"):
        next(decoded.batches([3], 8))
