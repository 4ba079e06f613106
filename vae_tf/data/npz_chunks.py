"""An .npz too large for memory, read a piece at a time (for `python -m vae_tf.data pack`).

`npz_members` lists an .npz's arrays from their headers. `NpzChunks` reads one whose images do not
fit `--data-memory`, with memory bounded by the pieces asked for, whatever the file's size: a stored
(uncompressed) member is read where its bytes lie inside the zip file; a compressed one is
decompressed once, sequentially, into a scratch .npy file beside the output, and read there. Rows
are read with pread into the piece's own array, not through a map of the file, whose touched pages
would count as the process's resident memory (they did: 2 GiB for a 2 GiB file).

What it gives is what `vae_tf.data.sources.load_data("npz:FILE")` would hold, a piece at a time: the
same checks (`vae_tf.data.checks`), the same conversion to uint8 or float32 (`stored_as`, decided
over the whole array in a first pass when the images are not uint8) and the same `DataSpec`,
fingerprint included (hashed in order, a piece at a time). Labels are small (a few bytes an image):
they are read whole.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import struct
import zipfile
from pathlib import Path

import numpy as np

from vae_tf.core.errors import DataError
from vae_tf.data.checks import check_labels, images_of, occurring_classes, stored_as
from vae_tf.data.spec import DataSpec
from vae_tf.data.streaming import CHUNK_BYTES

SPLITS = ("train", "test")
FLOATS = "floats in [0, 1], held as float32"


def _read_header(handle) -> tuple[tuple, bool, np.dtype]:
    """(shape, fortran_order, dtype) of the .npy whose header starts at `handle`'s position."""
    version = np.lib.format.read_magic(handle)
    reader = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    return reader(handle)


def npz_members(path) -> dict:
    """{array name: (shape, dtype)} of an .npz file, read from its members' headers (no array is read)."""
    found = {}
    with zipfile.ZipFile(Path(path).expanduser()) as archive:
        for name in archive.namelist():
            if name.endswith(".npy"):
                with archive.open(name) as member:
                    shape, _, dtype = _read_header(member)
                found[name[:-4]] = (shape, dtype)
    return found


class NpzChunks:
    """The images of an .npz (x_train, x_test), read a piece at a time; its labels and `DataSpec`.

    Attributes:
      spec: the `DataSpec` `load_data(dataset)` would give (fingerprint included).
      counts: images per split, {"train": N, "test": M}.
      labels: per split, int labels (N,) as the loader holds them, or None.
    """

    def __init__(self, dataset: str, path, scratch):
        """Open `path` (the .npz of `dataset`, "npz:FILE"); compressed members are decompressed into `scratch`."""
        self.path = Path(path).expanduser().resolve()
        self.scratch = Path(scratch)
        self._files = []  # scratch files, removed by `close`
        where = str(self.path)
        if not zipfile.is_zipfile(self.path):
            raise DataError(f"{where} is not a .npz file (a zip archive of .npy arrays); write it with "
                            "numpy.savez(path, x_train=..., x_test=...).")
        try:
            with zipfile.ZipFile(self.path) as archive:
                names = {name[:-4] for name in archive.namelist() if name.endswith(".npy")}
                for name in ("x_train", "x_test"):
                    if name not in names:
                        raise DataError(f"{where} has no array {name!r} (it has {', '.join(sorted(names)) or 'none'})"
                                        "; write it with numpy.savez(path, x_train=..., x_test=...).")
                self.arrays = {split: self._locate(archive, f"x_{split}") for split in SPLITS}
                small = {name: self._small(archive, name) for name in ("y_train", "y_test", "class_names")
                         if name in names}
        except (OSError, ValueError, zipfile.BadZipFile) as error:
            self.close()
            raise DataError(f"{where} is not a readable .npz file ({type(error).__name__}: {error}); "
                            "write it with numpy.savez(path, x_train=..., x_test=...).") from None
        self.counts = {split: self.arrays[split][1][0] for split in SPLITS}
        y_train = check_labels(small.get("y_train"), self.counts["train"], f"{where}: y_train")
        y_test = check_labels(small.get("y_test"), self.counts["test"], f"{where}: y_test")
        if (y_train is None) != (y_test is None):
            raise DataError(f"{where} has labels for one split only; give both y_train and y_test, or neither.")
        names = small.get("class_names")
        class_names = None if names is None else tuple(str(name) for name in np.asarray(names).ravel())
        if y_train is not None:
            y_train, y_test, class_names = occurring_classes(y_train, y_test, class_names, where)
        self.labels = {"train": y_train, "test": y_test}
        shape = images_of(np.zeros((0, *self.arrays["train"][1][1:]), np.uint8), f"{where}: x_train").shape[1:]
        if images_of(np.zeros((0, *self.arrays["test"][1][1:]), np.uint8), f"{where}: x_test").shape[1:] != shape:
            raise DataError(f"{where}: the test images are {self.arrays['test'][1][1:]} but the training images are "
                            f"{self.arrays['train'][1][1:]}; give both splits one shape.")
        if not self.counts["train"] or not self.counts["test"]:
            raise DataError(f"{where}: {self.counts['train']} training and {self.counts['test']} test images; both "
                            "splits need images.")
        self.shape = tuple(int(size) for size in shape)
        self._decide_kinds(where)
        self.spec = DataSpec(source=dataset, name="npz", image_shape=self.shape,
                             class_names=class_names, dtype=self.dtype, value_range=self.value_range,
                             path=str(self.path), found="file", fingerprint=self._fingerprint(),
                             train_images=self.counts["train"], test_images=self.counts["test"])

    def _locate(self, archive: zipfile.ZipFile, name: str) -> tuple[Path, tuple, np.dtype, int, bool]:
        """(file, shape, dtype, offset of the first byte, fortran_order) of member `name`'s array on disk."""
        info = archive.getinfo(f"{name}.npy")
        if info.compress_type == zipfile.ZIP_STORED:
            with open(self.path, "rb") as handle:
                handle.seek(info.header_offset)
                local = handle.read(30)  # the local file header: its name and extra field lengths end it
                names, extra = struct.unpack("<HH", local[26:30])
                handle.seek(info.header_offset + 30 + names + extra)
                shape, fortran, dtype = _read_header(handle)
                return self.path, shape, dtype, handle.tell(), fortran
        self.scratch.mkdir(parents=True, exist_ok=True)
        copy = self.scratch / f".{name}-scratch.npy"  # decompressed once, a megabyte at a time
        self._files.append(copy)
        with archive.open(info) as member, open(copy, "wb") as handle:
            shutil.copyfileobj(member, handle, 2**20)
        with open(copy, "rb") as handle:
            shape, fortran, dtype = _read_header(handle)
            return copy, shape, dtype, handle.tell(), fortran

    @staticmethod
    def _small(archive: zipfile.ZipFile, name: str) -> np.ndarray:
        with archive.open(f"{name}.npy") as member:
            return np.lib.format.read_array(member, allow_pickle=False)

    def close(self) -> None:
        """Remove the scratch files of compressed members."""
        for copy in self._files:
            copy.unlink(missing_ok=True)

    def _raw(self, split: str, rows) -> np.ndarray:
        """x_{split}[rows] as stored (rows: a slice of step 1, or indices), read from the file with pread: no
        map of the file, whose pages would count as the process's memory while it holds them."""
        file, shape, dtype, offset, fortran = self.arrays[split]
        if fortran:  # column-major (rare): a row is scattered over the file; a map, dropped at once
            mapped = np.memmap(file, dtype=dtype, mode="r", offset=offset, shape=shape, order="F")
            try:
                return np.array(mapped[rows])
            finally:
                del mapped
        indices = np.arange(shape[0])[rows] if isinstance(rows, slice) else np.asarray(rows)
        out = np.empty((len(indices), *shape[1:]), dtype)
        row_bytes = out[0].nbytes if len(out) else 0
        flat = memoryview(out.reshape(-1).view(np.uint8)) if len(out) else None
        with open(file, "rb", buffering=0) as handle:
            if isinstance(rows, slice):
                handle.seek(offset + int(indices[0]) * row_bytes) if len(indices) else None
                if len(indices) and handle.readinto(flat) != len(flat):
                    raise DataError(f"{self.path}: x_{split} ends early; the file is truncated.")
                return out
            descriptor = handle.fileno()
            for place in np.argsort(indices, kind="stable"):  # in the file's order: forward reads
                got = os.preadv(descriptor, [flat[place * row_bytes:(place + 1) * row_bytes]],
                                offset + int(indices[place]) * row_bytes)
                if got != row_bytes:
                    raise DataError(f"{self.path}: x_{split} ends early; the file is truncated.")
        return out

    def _pieces(self, split: str):
        """Slices of x_{split} of about `CHUNK_BYTES` each."""
        _, shape, dtype, _, _ = self.arrays[split]
        size = max(1, CHUNK_BYTES // max(1, int(np.prod(shape[1:])) * dtype.itemsize))
        return [slice(start, start + size) for start in range(0, shape[0], size)]

    def _decide_kinds(self, where: str) -> None:
        """uint8 or float32 for each split, as `stored_as` would decide over the whole array (a pass over
        the pieces when the images are not uint8), and the value range the spec records."""
        kinds, ranges = {}, {}
        for split in SPLITS:
            kinds[split], ranges[split] = "uint8", "uint8 0..255, scaled by 1/255 in the model"
            if self.arrays[split][2] == np.uint8:
                continue
            for rows in self._pieces(split):
                held, ranges[split] = stored_as(self._raw(split, rows), f"{where}: the {split} images")
                if held.dtype != np.uint8:
                    kinds[split], ranges[split] = "float32", FLOATS
        self.kinds = kinds
        self.dtype = "uint8" if set(kinds.values()) == {"uint8"} else "float32"
        self.value_range = ranges["train"] if len(set(kinds.values())) == 1 else FLOATS

    def rows(self, split: str, rows) -> np.ndarray:
        """Images x_{split}[rows] (a slice or indices) as the loader holds them: (n, H, W, C) uint8 or float32."""
        raw = self._raw(split, rows)
        raw = raw.reshape(len(raw), *self.shape)
        if self.kinds[split] == "float32":
            return raw.astype(np.float32)
        held = stored_as(raw, split)[0]
        return held if self.dtype == "uint8" else held.astype(np.float32) / 255.0

    def _fingerprint(self) -> str:
        """`vae_tf.data.spec.fingerprint(x_train, y_train, x_test, y_test)`, hashed a piece at a time."""
        digest = hashlib.sha256()
        for split in SPLITS:
            digest.update(f"{np.dtype(self.dtype).str}{(self.counts[split], *self.shape)}".encode())
            for rows in self._pieces(split):
                digest.update(memoryview(np.ascontiguousarray(self.rows(split, rows))).cast("B"))
            labels = self.labels[split]
            if labels is None:
                digest.update(b"none")
            else:
                labels = np.ascontiguousarray(labels)
                digest.update(f"{labels.dtype.str}{labels.shape}".encode())
                digest.update(memoryview(labels).cast("B"))
        return digest.hexdigest()[:16]
