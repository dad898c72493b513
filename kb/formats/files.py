"""Reading the knowledge base's own files: regular files inside it, never more than a cap.

Claim files, the bibliography, experiment scripts and run records arrive by pull request,
and git commits symbolic links as they are. So before kb reads one of them it checks that

- the file, with every symbolic link on its way resolved, is inside the knowledge base:
  a link to `/etc/passwd` or `~/.ssh` must not be parsed, echoed in an error message or
  published on the site (links that stay inside the repository are fine);
- it is a regular file: the zero or random device would be read until memory runs out,
  and opening a FIFO with no writer blocks forever;
- it holds at most `limit` bytes, counting the bytes actually read (at most limit + 1),
  since `st_size` says nothing about devices and a file can grow while it is read.

A refusal is a `FileRefused` whose message never names the link's target.

Files kb writes get the permissions the user's umask gives a new file (`new_file_mode`):
`tempfile` makes its files 0600 and its folders 0700, which is right for secrets and
wrong for run records, claims and exports that a group or a web server reads.
"""

from __future__ import annotations

import functools
import os
import stat
import threading
from pathlib import Path

_CHUNK = 1 << 20  # read in 1 MiB pieces so a short cap never allocates more than it needs

_KINDS = {
    stat.S_IFDIR: "a folder",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFSOCK: "a socket",
}


class FileRefused(Exception):
    """A file kb will not read; the message says why, without naming where a link points."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class SafeReader:
    """Reads files under one root; remembers the resolved folders, so reading many files in
    the same folder costs one extra `lstat` each (100,000 run records read in a check)."""

    def __init__(self, root: Path | str) -> None:
        self.root = os.path.realpath(root)
        self._prefix = self.root.rstrip(os.sep) + os.sep
        self._folders: dict[str, str] = {}

    def _resolved(self, path: str) -> tuple[str, os.stat_result | None]:
        """The path with links resolved, and its lstat when that already is the file's own
        stat (not a link), which spares a second system call per file."""
        folder, name = os.path.split(os.path.abspath(path))
        real_folder = self._folders.get(folder)
        if real_folder is None:
            real_folder = self._folders[folder] = os.path.realpath(folder)
        candidate = os.path.join(real_folder, name)
        try:
            info = os.lstat(candidate)
        except OSError:
            return candidate, None  # a missing file: os.stat reports it
        if stat.S_ISLNK(info.st_mode):
            return os.path.realpath(candidate), None
        return candidate, info

    def inside(self, path: Path | str) -> bool:
        """Whether `path`, links resolved, is the root or inside it."""
        real, _ = self._resolved(os.fspath(path))
        return real == self.root or real.startswith(self._prefix)

    def read(self, path: Path | str, limit: int) -> bytes:
        """The bytes of `path`, or FileRefused (OSError for a missing or unreadable file)."""
        real, info = self._resolved(os.fspath(path))
        if not (real == self.root or real.startswith(self._prefix)):
            raise FileRefused(
                "is a symbolic link to a file outside the knowledge base: kb reads only files inside it"
            )
        if info is None:
            info = os.stat(real)
        if not stat.S_ISREG(info.st_mode):
            raise FileRefused(f"is {_kind(info.st_mode)}, not a regular file")
        # Should the file have been swapped since the stat: O_NOFOLLOW refuses a new link
        # (`real` has none left), O_NONBLOCK does not wait for a FIFO's writer, and fstat
        # then refuses anything but a regular file.
        flags = os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(real, flags)
        try:
            opened = os.fstat(fd)
            if not stat.S_ISREG(opened.st_mode):
                raise FileRefused(f"is {_kind(opened.st_mode)}, not a regular file")
            pieces: list[bytes] = []
            remaining = limit + 1
            while remaining > 0:
                piece = os.read(fd, min(_CHUNK, remaining))
                if not piece:
                    break
                pieces.append(piece)
                remaining -= len(piece)
        finally:
            os.close(fd)
        data = b"".join(pieces)
        if len(data) > limit:
            # The size as stat saw it when it is believable; "more than" when the file grew.
            size = f"{opened.st_size:,}" if opened.st_size > limit else f"more than {limit:,}"
            raise FileRefused(f"file is {size} bytes; the limit is {limit:,}")
        return data


def read_inside(path: Path | str, root: Path | str, limit: int) -> bytes:
    """Read one file with the checks in the module docstring (see `SafeReader` for many)."""
    return SafeReader(root).read(path, limit)


def _kind(mode: int) -> str:
    return _KINDS.get(stat.S_IFMT(mode), "a special file")


@functools.cache
def umask() -> int:
    """The process's umask. Linux shows it in /proc (reading it leaves it alone); elsewhere
    it can only be read by setting it, under a lock so no thread creates a file meanwhile."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    with _UMASK_LOCK:
        mask = os.umask(0o022)
        os.umask(mask)
    return mask


_UMASK_LOCK = threading.Lock()


def new_file_mode() -> int:
    """Permissions of a file created by open(): 0666 less the umask."""
    return 0o666 & ~umask()


def new_folder_mode() -> int:
    """Permissions of a folder created by mkdir(): 0777 less the umask."""
    return 0o777 & ~umask()
