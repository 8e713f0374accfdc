"""Writing files atomically: a reader sees the old file or the new one, never half of one.

Both packages write through :func:`write_atomic`: the command line's SVG,
``nn``'s model files, the HTML player, the tools that store notebooks and
pictures. It is public (``from autograd.files import write_atomic``) so that
``nn`` and the tools need no private name. :func:`write_all_or_nothing`
writes several files that belong together (the command line's ``-o`` and
``--html``): all of them, or, on any error, none.

It creates no directory, and it replaces only a regular file: a symbolic
link (even a dangling one), a directory, a FIFO, a socket or a device at the
path is refused with :class:`NotARegularFile` and left as it is. (Renaming a
file over a symlink would silently cut the link; over ``/dev/null``, as
root, would replace the device.)
"""

from __future__ import annotations

import errno
import itertools
import os
import stat
from collections.abc import Callable, Iterable

TYPE_CHECKING = False  # typing's flag without importing typing (3 ms); checkers take it as True
if TYPE_CHECKING:
    from typing import TypeVar

    T = TypeVar("T")

PathLike = str | os.PathLike[str]


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
    write_all_or_nothing([(path, data)])


def write_all_or_nothing(files: Iterable[tuple[PathLike, bytes]]) -> None:
    """Write each ``(path, data)`` of ``files`` as :func:`write_atomic` does, all or none.

    Every target is checked first (as by :func:`check_target`), and two
    paths that name the same file (:func:`same_file`) are a ``ValueError``
    naming both. Then every file is written to its temporary file and
    fsynced: a full disk, a read-only directory or an I/O error shows up
    here, and leaves every target untouched and no temporary file behind.
    Only then are the temporary files renamed over their targets, one after
    another. Should a rename still fail, the ones before it are undone (a
    new file removed, a replaced one restored from a hard link taken just
    before; on a file system without hard links, a replaced file cannot be
    restored).
    """
    targets = [(os.fspath(path), data) for path, data in files]
    for path, _ in targets:
        check_target(path)
    for (a, _), (b, _) in itertools.combinations(targets, 2):
        if same_file(a, b):
            raise ValueError(f"{a!r} and {b!r} name the same file")
    staged: list[tuple[str, str]] = []  # (temporary file, target)
    try:
        for path, data in targets:
            staged.append((_stage(path, data), path))
        # New files first: undoing their rename needs no copy of an old file.
        staged.sort(key=lambda item: os.path.lexists(item[1]))
        _replace_all(staged)
    except BaseException:
        for tmp, _ in staged:
            _remove(tmp)  # (gone already if it was renamed)
        raise
    for directory in dict.fromkeys(os.path.dirname(path) or "." for path, _ in targets):
        _fsync_directory(directory)


def same_file(a: PathLike, b: PathLike) -> bool:
    """Whether writing to ``a`` and to ``b`` would write one file, existing or not.

    Compares files, not spellings: ``link/g.html`` and ``../real/g.html``
    through a symlinked directory are one file, as are two hard links to
    one. A path that does not exist yet is compared by its directory (as the
    system resolves it) and its name. Both directories must exist.
    """
    return _identity(os.fspath(a)) == _identity(os.fspath(b))


def _identity(path: str) -> tuple[str | int, ...]:
    try:
        st = os.lstat(path)  # lstat: a symlink is a file of its own (and is never replaced)
        return ("file", st.st_dev, st.st_ino)
    except FileNotFoundError:
        st = os.stat(os.path.dirname(path) or ".")  # follows the links on the way, as the kernel will
        return ("new", st.st_dev, st.st_ino, os.path.basename(path))


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


def _stage(path: str, data: bytes) -> str:
    """``data`` in a new temporary file next to ``path``, on disk; its path. Removed on failure.

    The temporary file goes in the directory the system finds for ``path``
    (``os.path.dirname``, never ``abspath``, which would resolve ``link/..``
    by its spelling) so that the rename stays in one directory. It is made
    with mode 0o666, so the umask gives it the mode any new file gets (no
    reading of the umask, which would mean setting it for every thread),
    then given the mode of the file it will replace, if there is one.
    """
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0)
    tmp: str | None = None
    try:
        tmp, fd = _hidden_name(path, ".tmp", lambda name: os.open(name, flags, 0o666))
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        try:
            os.chmod(tmp, os.stat(path).st_mode & 0o7777)
        except FileNotFoundError:
            pass
    except BaseException as e:
        if tmp is not None:
            _remove(tmp)
        if isinstance(e, OSError):
            raise _naming(e, path) from e
        raise
    return tmp


def _naming(error: OSError, path: str) -> OSError:
    """``error`` (same kind, same errno) naming ``path``, the target, not its temporary file."""
    return OSError(error.errno, error.strerror, path) if error.errno is not None else error


def _hidden_name(path: str, suffix: str, make: Callable[[str], T]) -> tuple[str, T]:
    """``(name, make(name))`` for a new hidden name next to ``path``; another name if it is taken."""
    directory, base = os.path.split(path)
    while True:
        name = os.path.join(directory, f".{base}.{os.urandom(6).hex()}{suffix}")
        try:
            return name, make(name)
        except FileExistsError:  # (one chance in 2^48): draw another name
            continue


def _replace_all(staged: list[tuple[str, str]]) -> None:
    """Rename each temporary file over its target, in order; if one fails, undo those before it."""
    done: list[tuple[str, str | None, bool]] = []  # per rename made: (target, old file's link, existed)
    links: list[str] = []
    try:
        for k, (tmp, path) in enumerate(staged):
            existed = os.path.lexists(path)
            # The last rename is never undone: it needs no copy of the old file.
            link = _hard_link(path) if existed and k < len(staged) - 1 else None
            if link is not None:
                links.append(link)
            try:
                os.replace(tmp, path)
            except OSError as e:
                raise _naming(e, path) from e
            done.append((path, link, existed))
    except BaseException:
        for path, link, existed in reversed(done):
            try:
                if link is not None:
                    os.replace(link, path)
                elif not existed:
                    os.unlink(path)
            except OSError:
                pass  # best effort: the error to report is the first one
        raise
    finally:
        for link in links:
            _remove(link)  # (gone already if it was put back)


def _hard_link(path: str) -> str | None:
    """A hidden second name for the file at ``path``, or None where links are not possible."""
    try:
        return _hidden_name(path, ".old", lambda name: os.link(path, name))[0]
    except OSError:  # a file system without hard links (FAT), say
        return None


def _remove(path: str) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass


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
