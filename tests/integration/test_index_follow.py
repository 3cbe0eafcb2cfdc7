"""A read-only index follows another writer: new items come in with their vectors, removed ones go, both
from the vectors SQLite still holds and, once the writer saved and dropped them, from the saved files."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from memesearch.index import Index
from memesearch.ingest import add_bytes, add_paths
from memesearch.search import Searcher
from memesearch.serve.load import png_bytes
from memesearch.utils.synthetic import shapes_image


def _ids(idx: Index) -> set[int]:
    return set(idx.all_vectors("image")[0].tolist())


def test_read_only_view_follows_writes_of_another_writer(tmp_path: Path) -> None:
    folder = tmp_path / "seed"
    folder.mkdir()
    for i in range(5):
        shapes_image(i, (48, 48)).save(folder / f"{i}.png")
    root = tmp_path / "idx"
    writer = Index.create(root, model="tiny-clip:0", ocr=False)
    add_paths(writer, [folder], workers=0)
    # enough items that one upload is not saved at once (Index.save_if_due): its vectors stay in SQLite
    vecs = np.random.default_rng(0).standard_normal((200, writer.dim)).astype(np.float32)
    writer.insert_vectors(vecs / np.linalg.norm(vecs, axis=1, keepdims=True))
    reader = Index.open(root, readonly=True)
    searcher = Searcher(reader)
    try:
        assert reader.vector_count("image") == 205
        # an upload: its vectors wait in SQLite (not saved yet) — the reader takes them from there
        new = add_bytes(writer, png_bytes(11), captions=["so tired cat"]).indexed[0]
        follower = reader._follower
        assert follower is not None
        reopened = follower.reopened
        assert _ids(reader) == _ids(writer)
        assert follower.reopened == reopened  # applied from the item log, not reopened
        rowid = reader.rowid_of(new)
        assert rowid is not None
        q = reader.encoder.encode_text(["so tired cat"])[0]
        assert not np.isnan(reader.vector_scores("text", q, np.array([rowid]))).any()
        hit = searcher.search("so tired cat", k=3).hits[0]
        assert hit.id == new and "image" in hit.scores and "text" in hit.scores
        # removed by the writer: gone from the reader's stores too
        writer.remove([new])
        assert rowid not in _ids(reader) and reader.vector_count("text") == 0
        # saved and dropped from SQLite by the writer: the reader reopens from the saved files
        more = add_bytes(writer, png_bytes(12)).indexed[0]
        writer.flush(force=True)
        assert _ids(reader) == _ids(writer) and reader.rowid_of(more) in _ids(reader)
        assert follower.reopened == reopened + 1
        assert searcher.search_image(png_bytes(12), k=1).hits[0].id == more
    finally:
        reader.close()
        writer.close()


def test_read_only_opens_never_fail_while_a_writer_saves(tmp_path: Path) -> None:
    """A writer saving after every insert (file, then sidecar, then SQLite drops its copies) and a reader
    opening read-only in a loop: no open fails (before load read again after a torn read, about a third
    failed with LostVectorsError: 104 of 380 in 20 s)."""
    import threading
    import time

    root = tmp_path / "idx"
    writer = Index.create(root, model="tiny-clip:0", ocr=False)
    stop = time.monotonic() + 4.0
    errors: list[str] = []
    opens = [0]

    def reader() -> None:
        while time.monotonic() < stop:
            try:
                Index.open(root, readonly=True).close()
                opens[0] += 1
            except Exception as exc:  # any failure is the finding
                errors.append(f"{type(exc).__name__}: {exc}")

    thread = threading.Thread(target=reader)
    thread.start()
    rng = np.random.default_rng(0)
    saves = 0
    try:
        while time.monotonic() < stop:
            vec = rng.standard_normal((1, writer.dim)).astype(np.float32)
            writer.insert_vectors(vec / np.linalg.norm(vec), save_now=True)
            saves += 1
    finally:
        thread.join()
        writer.close()
    assert errors == [], errors[:3]
    assert opens[0] >= 5 and saves >= 5, (opens[0], saves)
