"""Writing files atomically: a reader sees the old file or the new one, never half of one.

Both packages write through :func:`write_atomic`: the command line's SVG,
``nn``'s model files, the HTML player, the tools that store notebooks and
pictures. It is public (``from autograd.files import write_atomic``) so that
``nn`` and the tools need no private name.
"""

from __future__ import annotations

import os

PathLike = str | os.PathLike


def write_atomic(path: PathLike, data: bytes) -> None:
    """Replace the file at ``path`` by ``data``, all at once or not at all.

    Writes a temporary file in the same directory (so the final rename
    stays within one file system, where it is atomic), flushes and fsyncs
    it, then ``os.replace``s it over ``path`` and fsyncs the directory. On
    any failure the temporary file is removed and ``path`` is untouched.
    The new file gets the mode of the file it replaces, or the one a new
    file would get under the umask.
    """
    import tempfile  # here, not at the top: keeps `import autograd` fast

    path = os.fspath(path)
    directory, name = os.path.split(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        # mkstemp makes the file private (0600): give it the mode of the file
        # it replaces, or the one a new file would get.
        os.chmod(tmp, _mode_for(path))
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_directory(directory)


def _mode_for(path: str) -> int:
    try:
        return os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)  # reading the umask means setting it: put it straight back
        os.umask(umask)
        return 0o666 & ~umask


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
