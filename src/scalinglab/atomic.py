"""Atomic file output: every file scalinglab writes appears whole or not at all.

Every output (``report --out``, ``plot --out``, ``fit --out``, ``simulate --out``, ``runs export``,
training checkpoints, the tokenizer cache, downloaded datasets) goes through :func:`atomic_write`:

- the bytes go to a fresh temporary file made by :func:`tempfile.mkstemp` in the target's own
  folder (``.<name>.<random>.tmp``, created with ``O_EXCL``: never an existing file, never a
  symlink someone planted), are flushed and fsync'ed, and the file is then renamed over the
  target with :func:`os.replace` (atomic on POSIX and Windows within one file system). Readers
  see the old file or the new one, never half a file.
- on any failure (the serialiser raising, a full disk, an interrupt) the temporary file is
  removed and the target is left exactly as it was (or absent).
- a symlink at the target path is replaced by the new regular file; the file the link pointed
  to is not touched. scalinglab never writes through a link: writing to whatever a link
  names would let anyone who can plant one in the output folder overwrite a file elsewhere.
- permissions are those a plain ``open(path, "w")`` gives: an existing regular file keeps its
  mode, a new file gets ``0o666`` minus the umask (``mkstemp``'s own 0600 is not kept).
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

__all__ = ["atomic_write", "atomic_write_bytes", "atomic_write_text"]


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "wb", *, encoding: str | None = None,
                 newline: str | None = None) -> Iterator[IO[Any]]:
    """Yield a file object (``mode`` "wb" or "w") whose contents replace ``path`` when the block
    ends without an exception; on an exception nothing is left behind and ``path`` is unchanged.
    Text mode defaults to UTF-8. Errors (OSError: no such folder, no space) propagate as they are."""
    if mode not in ("wb", "w"):
        raise ValueError(f"atomic_write: mode must be 'wb' or 'w', not {mode!r}")
    target = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name[:100]}.", suffix=".tmp", dir=target.parent)
    try:
        try:
            fh: IO[Any] = (os.fdopen(fd, "wb") if mode == "wb"
                           else os.fdopen(fd, "w", encoding=encoding or "utf-8", newline=newline))
        except BaseException:
            os.close(fd)
            raise
        with fh:
            _chmod(fd, tmp, _mode_for(target))
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Replace ``path`` with ``data`` atomically (see :func:`atomic_write`)."""
    with atomic_write(path, "wb") as fh:
        fh.write(data)


def atomic_write_text(path: str | os.PathLike[str], text: str, encoding: str = "utf-8") -> None:
    """Replace ``path`` with ``text`` atomically (see :func:`atomic_write`); line ends as given."""
    with atomic_write(path, "w", encoding=encoding, newline="") as fh:
        fh.write(text)


def _chmod(fd: int, tmp: str, mode: int) -> None:
    if hasattr(os, "fchmod"):
        os.fchmod(fd, mode)
    else:  # Windows before Python 3.13
        os.chmod(tmp, mode)


def _mode_for(target: Path) -> int:
    """The permission bits ``open(target, "w")`` would leave: an existing regular file's own (a
    symlink is not followed), else 0o666 less the umask."""
    try:
        st = os.lstat(target)
        if stat.S_ISREG(st.st_mode):
            return stat.S_IMODE(st.st_mode)
    except OSError:
        pass
    return 0o666 & ~_umask()


def _umask() -> int:
    """The process umask, read without changing it where the system shows it (Linux), else by the
    set-and-restore idiom."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        with open("/proc/self/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask
