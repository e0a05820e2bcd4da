"""Index snapshot files: the rows of a built index, written once, mapped read-only by every process.

A web server's worker processes each need the same matrix (600 MB at 100k chunks of 1,536 dimensions).
The first process that builds it writes it to a file; the others map that file, so the operating system
keeps one copy in its page cache that all of them share, and each process holds privately only what
changed since (knowledge/index.py). Files are written under a temporary name and renamed into place, so a
reader sees a whole file or none; a new build gets a new file name, and a mapped file stays readable
after it is replaced and removed.

File: b"RAGCHATIDX", a format byte, the header length (uint32), a JSON header ({name: [dtype, shape,
offset]} for each array, plus `meta`), then the arrays at page-aligned offsets. Names:
`<database>-<model>-<built at, ns>.idx` in INDEX_SNAPSHOT_DIR, `<database>` a hash of the database's
connection settings and its IndexState.instance, so checkouts and test databases never share a file.
"""

import contextlib
import fcntl
import hashlib
import json
import mmap
import os
import re
import time
from pathlib import Path

import numpy as np

MAGIC = b"RAGCHATIDX"
FORMAT = 1
_PAGE = 4096
_PREFIX = len(MAGIC) + 1 + 4


class Snapshot:
    """A mapped snapshot file: its arrays (read-only views of one mapping) and its `meta`."""

    def __init__(self, path: Path):
        self.path = path
        with open(path, "rb") as file:
            self._map = mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ)
        if self._map[:len(MAGIC)] != MAGIC or self._map[len(MAGIC)] != FORMAT:
            raise ValueError(f"{path} is not an index snapshot of format {FORMAT}.")
        length = int.from_bytes(self._map[len(MAGIC) + 1:_PREFIX], "little")
        header = json.loads(self._map[_PREFIX:_PREFIX + length])
        self.meta: dict = header["meta"]
        self.arrays = {
            name: np.frombuffer(self._map, dtype=np.dtype(dtype), count=int(np.prod(shape)), offset=offset)
            .reshape(shape)
            for name, (dtype, shape, offset) in header["arrays"].items()
        }

    @property
    def nbytes(self) -> int:
        return len(self._map)


def database_key(settings_dict: dict, instance: str) -> str:
    name = "|".join(str(settings_dict.get(key) or "") for key in ("ENGINE", "HOST", "PORT", "NAME"))
    return hashlib.sha256(f"{name}|{instance}".encode()).hexdigest()[:16]


def prefix(database: str, model: str) -> str:
    readable = re.sub(r"[^A-Za-z0-9.]+", "_", model)[:40]
    return f"{database}-{readable}.{hashlib.sha256(model.encode()).hexdigest()[:8]}-"


def write(directory: Path, name_prefix: str, arrays: dict[str, np.ndarray], meta: dict) -> Path:
    """Write a new snapshot atomically; returns its path. The database's older snapshots (of this model, or of
    a model it no longer serves) are removed."""
    directory.mkdir(parents=True, exist_ok=True)
    layout = {name: [array.dtype.str, list(array.shape), 0] for name, array in arrays.items()}
    widest = {name: [dtype, shape, 10**15] for name, (dtype, shape, _) in layout.items()}
    offset = header_room = _aligned(_PREFIX + len(json.dumps({"arrays": widest, "meta": meta}).encode()))
    for name, array in arrays.items():
        layout[name][2] = offset
        offset = _aligned(offset + array.nbytes)
    header = json.dumps({"arrays": layout, "meta": meta}).encode()
    assert _PREFIX + len(header) <= header_room
    path = directory / f"{name_prefix}{time.time_ns()}.idx"
    temporary = directory / f".{path.name}.{os.getpid()}.tmp"
    try:
        with open(temporary, "wb") as file:
            file.write(MAGIC + bytes([FORMAT]) + len(header).to_bytes(4, "little") + header)
            for name, array in arrays.items():
                file.seek(layout[name][2])
                np.ascontiguousarray(array).tofile(file)
            file.truncate(offset)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
    database = name_prefix.split("-", 1)[0]
    for older in directory.glob(f"{database}-*.idx"):  # older builds, and other models of this database
        if older != path:  # processes that map it keep reading it; nobody else will open it
            with contextlib.suppress(FileNotFoundError):
                older.unlink()
    return path


def latest(directory: Path, name_prefix: str) -> Path | None:
    """The newest snapshot of this prefix, if any."""
    if not directory.is_dir():
        return None
    found = sorted(directory.glob(f"{name_prefix}*.idx"), key=lambda p: int(p.stem.rsplit("-", 1)[1]))
    return found[-1] if found else None


class Lock:
    """A lock shared by the processes of one machine (flock on a file beside the snapshots), taken at once;
    it may be handed to another thread, which releases it."""

    def __init__(self, directory: Path, name_prefix: str):
        directory.mkdir(parents=True, exist_ok=True)
        self._file = open(directory / f"{name_prefix}lock", "a+")  # noqa: SIM115  (released by release())
        try:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_EX)
        except BaseException:
            self._file.close()
            raise

    def release(self) -> None:
        if not self._file.closed:
            fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
            self._file.close()


def _aligned(offset: int) -> int:
    return -(-offset // _PAGE) * _PAGE
