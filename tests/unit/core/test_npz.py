"""`write_npz`: the one .npz writer; same arrays, same bytes, readable by numpy."""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest

from prefroute._npz import write_npz
from prefroute.embed.hashing import HashingEmbedder
from prefroute.routers.base import load_arrays, save_arrays
from prefroute.train.pipeline import MemoEmbedder

CHECKPOINTS = Path(__file__).resolve().parents[3] / "src" / "prefroute" / "checkpoints"
SHIPPED = sorted(p.name for p in CHECKPOINTS.iterdir() if (p / "arrays.npz").is_file())
ARRAYS = {"coef": np.arange(12, dtype=np.float32).reshape(3, 4), "n": np.array(3)}


@pytest.mark.parametrize("compress", [True, False])
def test_numpy_reads_what_it_writes(tmp_path: Path, compress: bool) -> None:
    write_npz(tmp_path / "a.npz", ARRAYS, compress=compress)
    with np.load(tmp_path / "a.npz") as data:
        assert list(data.files) == ["coef", "n"]
        np.testing.assert_array_equal(data["coef"], ARRAYS["coef"])


def test_members_carry_a_fixed_date_not_the_write_time(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    write_npz(tmp_path / "a.npz", ARRAYS)
    # a later day (what Python >= 3.14 would stamp on a numpy-written member)
    later = time.time() + 3 * 86400
    monkeypatch.setattr(time, "time", lambda: later)
    write_npz(tmp_path / "b.npz", ARRAYS)
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
    with zipfile.ZipFile(tmp_path / "a.npz") as zf:
        assert {i.date_time for i in zf.infolist()} == {(1980, 1, 1, 0, 0, 0)}


def test_object_arrays_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        write_npz(tmp_path / "a.npz", {"x": np.array([{"a": 1}], dtype=object)})


@pytest.mark.skipif(
    "ng" in zlib.ZLIB_RUNTIME_VERSION, reason="zlib-ng deflates to other bytes"
)
@pytest.mark.parametrize(
    "name",
    sorted(p.name for p in CHECKPOINTS.iterdir() if (p / "arrays.npz").is_file()),
)
def test_shipped_arrays_are_rewritten_byte_for_byte(tmp_path: Path, name: str) -> None:
    shipped = CHECKPOINTS / name / "arrays.npz"
    save_arrays(tmp_path, **load_arrays(CHECKPOINTS / name))
    assert (tmp_path / "arrays.npz").read_bytes() == shipped.read_bytes()


def test_embedding_store_is_written_reproducibly(tmp_path: Path) -> None:
    emb = MemoEmbedder(HashingEmbedder(dim=8))
    emb.embed(["one", "two"])
    emb.save_store(tmp_path / "a.npz")
    emb.save_store(tmp_path / "b.npz")
    assert (tmp_path / "a.npz").read_bytes() == (tmp_path / "b.npz").read_bytes()
