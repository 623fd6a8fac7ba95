"""The bundled sets rendered in parts by helper processes are the bytes of the same set rendered in one process."""

from safety_harness.synthetic import default_ingest


def test_rendering_shared_among_processes_writes_the_same_files(tmp_path, monkeypatch):
    monkeypatch.setattr(default_ingest, "PARALLEL_FROM", 10**9)
    default_ingest.write_ingest(tmp_path / "one", per_class=0, stop_signs=30, seed=3)
    monkeypatch.setattr(default_ingest, "PARALLEL_FROM", 10)
    monkeypatch.setattr(default_ingest.os, "sched_getaffinity", lambda pid: {0, 1, 2})  # three parts, two helpers
    default_ingest.write_ingest(tmp_path / "shared", per_class=0, stop_signs=30, seed=3)
    one, shared = (sorted((tmp_path / name).rglob("*")) for name in ("one", "shared"))
    assert [p.relative_to(tmp_path / "one") for p in one] == [p.relative_to(tmp_path / "shared") for p in shared]
    assert len(one) == 30 + 2  # the images, their folder and GT-final_test.csv
    assert all(a.read_bytes() == b.read_bytes() for a, b in zip(one, shared, strict=True) if a.is_file())
