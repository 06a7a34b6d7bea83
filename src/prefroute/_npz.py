"""The one ``.npz`` writer: the same arrays give the same bytes, on any day.

`numpy.savez` stamps each member with whatever its Python's `zipfile` puts in a
fresh entry: 1980-01-01 up to Python 3.13, the current time from Python 3.14
(``ZipInfo._for_archive``), so a retrained checkpoint would differ from the shipped
one in its header bytes alone. This writer fixes every field numpy leaves to
`zipfile` (date, creator system, attributes, deflate level) at the values numpy
wrote on Python 3.11 under Linux, so files it writes are byte-identical to the
shipped checkpoints for identical arrays (given the same zlib).
"""

from __future__ import annotations

import zipfile
from collections.abc import Mapping
from pathlib import Path

import numpy as np

__all__ = ["write_npz"]

#: Member timestamp: the earliest a zip can hold (what numpy wrote up to 3.13).
_DATE_TIME = (1980, 1, 1, 0, 0, 0)
_UNIX = 3  # ZipInfo.create_system of an entry made on a POSIX system


def write_npz(
    path: Path | str, arrays: Mapping[str, np.ndarray], *, compress: bool = True
) -> None:
    """Write `arrays` to an ``.npz`` file that `numpy.load` reads, reproducibly.

    Members are written in the mapping's order as ``<name>.npy`` (zip64 headers, as
    numpy writes them); pickled object arrays are refused by `numpy.lib.format`.

    Args:
        path: The file (its folder must exist); replaced if present.
        arrays: Name -> array.
        compress: Deflate the members (`numpy.savez_compressed`) or store them
            (`numpy.savez`).

    Raises:
        ValueError: An array of dtype object.
    """
    method = zipfile.ZIP_DEFLATED if compress else zipfile.ZIP_STORED
    with zipfile.ZipFile(path, mode="w", compression=method, allowZip64=True) as zf:
        for name, value in arrays.items():
            info = zipfile.ZipInfo(f"{name}.npy", date_time=_DATE_TIME)
            info.compress_type = method
            info.create_system = _UNIX
            info.external_attr = 0
            with zf.open(info, mode="w", force_zip64=True) as member:
                np.lib.format.write_array(
                    member, np.asanyarray(value), allow_pickle=False
                )
