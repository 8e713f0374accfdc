"""Writing files atomically: a reader sees the old file or the new one, never half of one.

Both packages write through :func:`write_atomic`: the command line's SVG,
``nn``'s model files, the HTML player, the tools that store notebooks and
pictures. It is public (``from autograd.files import write_atomic``) so that
``nn`` and the tools need no private name.

It creates no directory, and it replaces only a regular file: a symbolic
link (even a dangling one), a directory, a FIFO, a socket or a device at the
path is refused with :class:`NotARegularFile` and left as it is. (Renaming a
file over a symlink would silently cut the link; over ``/dev/null``, as
root, would replace the device.)
"""

from __future__ import annotations

import errno
import os
import stat

PathLike = str | os.PathLike


class NotARegularFile(OSError):
    """``write_atomic`` will not replace ``filename``: it is a symlink, a directory, a FIFO, ...

    An ``OSError`` (so ``except OSError`` catches it) whose ``strerror``
    says what the path is, and whose message names the path.
    """

    def __init__(self, filename: str, kind: str) -> None:
        super().__init__(None, f"it is {kind}, not a regular file (not replaced)", filename)

    def __str__(self) -> str:
        return f"{self.filename!r}: {self.strerror}"


def write_atomic(path: PathLike, data: bytes) -> None:
    """Replace the file at ``path`` by ``data``, all at once or not at all.

    Writes a temporary file in the same directory (so the final rename
    stays within one file system, where it is atomic), flushes and fsyncs
    it, then ``os.replace``s it over ``path`` and fsyncs the directory. On
    any failure the temporary file is removed and ``path`` is untouched.
    The new file gets the mode of the file it replaces, or the one a new
    file would get under the umask.

    Checked first, each an ``OSError`` naming ``path``: a path ending in
    ``/`` (``IsADirectoryError``), a missing directory (``FileNotFoundError``:
    none is created), a parent that is not a directory
    (``NotADirectoryError``), and anything at ``path`` but a regular file
    (:class:`NotARegularFile`).
    """
    path = os.fspath(path)
    check_target(path)
    directory, name = os.path.split(os.path.abspath(path))
    tmp, fd = _temporary(directory, name)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        try:  # the mode of the file it replaces; a new one has its own, from the umask
            os.chmod(tmp, os.stat(path).st_mode & 0o7777)
        except FileNotFoundError:
            pass
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_directory(directory)


def check_target(path: PathLike) -> None:
    """Raise, before anything is written, the error ``write_atomic`` would raise for ``path``.

    For a writer of several files that must write all or none (the command
    line's ``-o`` and ``--html``). The path can still change between this
    check and the write: the check is for mistakes, not for a hostile
    neighbour in the same directory.
    """
    path = os.fspath(path)
    if path.endswith(("/", os.sep)) or (os.altsep and path.endswith(os.altsep)):
        raise IsADirectoryError(errno.EISDIR, "the name ends in '/': give a file name", path)
    parent = os.path.dirname(path) or "."
    try:
        mode = os.lstat(path).st_mode  # lstat: a symlink itself, not what it points to
    except FileNotFoundError:
        if os.path.isdir(parent):
            return  # a new file
        raise FileNotFoundError(
            errno.ENOENT, f"the directory {parent!r} does not exist (none is created)", path
        ) from None
    except NotADirectoryError:
        raise NotADirectoryError(errno.ENOTDIR, f"{parent!r} is not a directory", path) from None
    if not stat.S_ISREG(mode):
        raise NotARegularFile(path, _kind(path, mode))


def _kind(path: str, mode: int) -> str:
    """What the thing at ``path`` is, in words, for an error message."""
    if stat.S_ISLNK(mode):
        return f"a symbolic link (to {os.readlink(path)!r})"
    kinds = {stat.S_ISDIR: "a directory", stat.S_ISFIFO: "a FIFO (named pipe)",
             stat.S_ISSOCK: "a socket", stat.S_ISCHR: "a device", stat.S_ISBLK: "a device"}
    return next((kind for test, kind in kinds.items() if test(mode)), "a special file")


def _temporary(directory: str, name: str) -> tuple[str, int]:
    """A new hidden file next to the target, open for writing: (its path, its descriptor).

    Made with mode 0o666, so the umask gives it the mode any new file gets
    (no reading of the umask, which would mean setting it for every thread).
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    while True:
        tmp = os.path.join(directory, f".{name}.{os.urandom(6).hex()}.tmp")
        try:
            return tmp, os.open(tmp, flags, 0o666)
        except FileExistsError:  # (one chance in 2^48): draw another name
            continue


def _fsync_directory(directory: str) -> None:
    # Makes the rename itself durable on POSIX; not possible (nor needed) everywhere.
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
