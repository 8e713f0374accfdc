"""autograd.files.write_atomic: whole files or nothing, and only regular files replaced."""

import errno
import os
import socket

import pytest

from autograd import files
from autograd.files import NotARegularFile, write_atomic


def test_writes_a_new_file_and_replaces_an_old_one(tmp_path):
    target = tmp_path / "out.txt"
    write_atomic(target, b"one")
    write_atomic(str(target), b"two")
    assert target.read_bytes() == b"two"
    assert os.listdir(tmp_path) == ["out.txt"]  # no temporary file left


def test_keeps_the_mode_of_the_file_it_replaces(tmp_path):
    target = tmp_path / "out.txt"
    target.write_bytes(b"old")
    target.chmod(0o640)
    write_atomic(target, b"new")
    assert target.stat().st_mode & 0o777 == 0o640


@pytest.mark.parametrize("name", ["n1/n2/n3/", "n1/n2/n3.svg", "n1/", "out.svg/"])
def test_creates_no_directory(tmp_path, name):
    with pytest.raises(OSError) as error:
        write_atomic(os.path.join(tmp_path, name), b"x")
    assert os.listdir(tmp_path) == []
    message = str(error.value)
    assert "\n" not in message and name.rstrip("/") in message
    if name.endswith("/"):
        assert isinstance(error.value, IsADirectoryError) and "ends in '/'" in message
    else:
        assert isinstance(error.value, FileNotFoundError) and "does not exist" in message


def test_a_parent_that_is_a_file_is_a_clear_error(tmp_path):
    (tmp_path / "plain").write_bytes(b"keep")
    with pytest.raises(NotADirectoryError, match="is not a directory"):
        write_atomic(tmp_path / "plain" / "out.svg", b"x")
    assert (tmp_path / "plain").read_bytes() == b"keep"


def _symlink(path):
    (path.parent / "target.svg").write_bytes(b"target")
    path.symlink_to("target.svg")


def _dangling_symlink(path):
    path.symlink_to("nowhere.svg")


def _fifo(path):
    os.mkfifo(path)


def _directory(path):
    path.mkdir()
    (path / "inside").write_bytes(b"inside")


def _socket(path):
    cwd = os.getcwd()
    os.chdir(path.parent)  # bound by a short relative name: AF_UNIX paths are limited to ~100 bytes
    try:
        with socket.socket(socket.AF_UNIX) as s:
            s.bind(path.name)
    finally:
        os.chdir(cwd)


@pytest.mark.parametrize("make, kind", [
    (_symlink, "a symbolic link"),
    (_dangling_symlink, "a symbolic link"),
    (_fifo, "a FIFO"),
    (_directory, "a directory"),
    (_socket, "a socket"),
])
def test_refuses_to_replace_what_is_not_a_regular_file(tmp_path, make, kind):
    target = tmp_path / "out.svg"
    make(target)
    before = {p.name: (p.lstat().st_mode, p.lstat().st_ino) for p in tmp_path.iterdir()}
    with pytest.raises(NotARegularFile) as error:
        write_atomic(target, b"new")  # a FIFO would block an open() for writing: never opened
    assert isinstance(error.value, OSError) and error.value.filename == str(target)
    assert str(target) in str(error.value) and kind in str(error.value)
    assert kind in error.value.strerror and "not a regular file" in error.value.strerror
    # Untouched, and no temporary file left beside it.
    assert {p.name: (p.lstat().st_mode, p.lstat().st_ino) for p in tmp_path.iterdir()} == before
    if kind == "a symbolic link" and (tmp_path / "target.svg").exists():
        assert (tmp_path / "target.svg").read_bytes() == b"target"



# -- several files, all or nothing ------------------------------------------------


def test_write_all_or_nothing_writes_every_file(tmp_path):
    (tmp_path / "old.txt").write_bytes(b"old")
    files.write_all_or_nothing([(tmp_path / "new.txt", b"one"), (str(tmp_path / "old.txt"), b"two")])
    assert (tmp_path / "new.txt").read_bytes() == b"one" and (tmp_path / "old.txt").read_bytes() == b"two"
    assert sorted(os.listdir(tmp_path)) == ["new.txt", "old.txt"]


# Where writing one of the files can fail: simulated, in process (a real full disk or read-only
# directory needs privileges this suite does not have; test_cli runs a real write limit).
FAILURES = {
    "full disk at fsync": ("fsync", OSError(errno.ENOSPC, "No space left on device")),
    "read-only directory": ("open", OSError(errno.EROFS, "Read-only file system")),
    "i/o error at fsync": ("fsync", OSError(errno.EIO, "Input/output error")),
    "interrupted": ("fsync", KeyboardInterrupt()),
}


@pytest.mark.parametrize("failing", ["a.txt", "b.txt"])
@pytest.mark.parametrize("case", FAILURES)
def test_a_failure_while_writing_one_file_writes_none(tmp_path, monkeypatch, fail_on, case, failing):
    name, error = FAILURES[case]
    (tmp_path / "b.txt").write_bytes(b"old b")
    fail_on(name, error, f".{failing}.")  # the temporary file of a.txt or of b.txt
    with pytest.raises(type(error)) as raised:
        files.write_all_or_nothing([(tmp_path / "a.txt", b"new a"), (tmp_path / "b.txt", b"new b")])
    monkeypatch.undo()
    assert os.listdir(tmp_path) == ["b.txt"] and (tmp_path / "b.txt").read_bytes() == b"old b"
    if isinstance(error, OSError):  # named by the file it was for, not by its temporary file
        assert raised.value.filename == str(tmp_path / failing) and raised.value.errno == error.errno


@pytest.mark.parametrize("existing", [(), ("a.txt",), ("a.txt", "b.txt")])
def test_a_failed_rename_puts_back_the_files_renamed_before_it(tmp_path, monkeypatch, fail_on, existing):
    # The renames come last; should the second fail, the first is undone: a new file
    # removed, a replaced one restored.
    for name in existing:
        (tmp_path / name).write_bytes(b"old " + name.encode())
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    calls = []
    fail_on("replace", OSError(errno.EIO, "Input/output error"),
            lambda src, dst: calls.append(dst) or len(calls) == 2)  # the second rename
    with pytest.raises(OSError, match="Input/output error"):
        files.write_all_or_nothing([(tmp_path / "a.txt", b"new a"), (tmp_path / "b.txt", b"new b")])
    monkeypatch.undo()
    assert len(calls) >= 2
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before


def test_every_target_is_checked_before_anything_is_written(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        files.write_all_or_nothing([(tmp_path / "a.txt", b"a"), (tmp_path / "no" / "b.txt", b"b")])
    (tmp_path / "b.txt").mkdir()
    with pytest.raises(NotARegularFile):
        files.write_all_or_nothing([(tmp_path / "a.txt", b"a"), (tmp_path / "b.txt", b"b")])
    assert os.listdir(tmp_path) == ["b.txt"]


@pytest.mark.parametrize("exists", [False, True])
def test_same_file_sees_through_symlinked_directories(linked_directories, monkeypatch, exists):
    work, real = linked_directories
    if exists:
        (real / "g.html").write_bytes(b"keep")
    monkeypatch.chdir(work)
    assert files.same_file("link/g.html", "../real/g.html")
    assert files.same_file("link/g.html", "../work/link/g.html")
    assert not files.same_file("link/g.html", "link/h.html")
    assert not files.same_file("link/g.html", "g.html")
    with pytest.raises(ValueError, match="'link/g.html' and '../real/g.html' name the same file"):
        files.write_all_or_nothing([("link/g.html", b"svg"), ("../real/g.html", b"html")])
    assert os.listdir(real) == (["g.html"] if exists else [])
    assert not exists or (real / "g.html").read_bytes() == b"keep"


def test_same_file_knows_hard_links(tmp_path):
    (tmp_path / "a").write_bytes(b"a")
    os.link(tmp_path / "a", tmp_path / "b")
    assert files.same_file(tmp_path / "a", tmp_path / "b")


def test_the_temporary_file_goes_where_the_file_goes(tmp_path, linked_directories, monkeypatch):
    # "link/../g.txt" is in real's parent for the kernel, not in work: a temporary
    # file made by the lexical path (os.path.abspath) would be renamed across directories.
    work, real = linked_directories
    monkeypatch.chdir(work)
    renamed = []
    real_replace = os.replace
    monkeypatch.setattr(os, "replace", lambda src, dst: (renamed.append(src), real_replace(src, dst)))
    write_atomic("link/../g.txt", b"x")
    assert (tmp_path / "g.txt").read_bytes() == b"x" and not (work / "g.txt").exists()
    assert os.path.samefile(os.path.dirname(renamed[0]), tmp_path)


def test_each_directory_is_fsynced_after_the_renames(tmp_path, monkeypatch):
    # The renames themselves reach the disk: each target's directory is fsynced, once.
    (tmp_path / "sub").mkdir()
    synced = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(os.readlink(f"/proc/self/fd/{fd}")),
                                                 real_fsync(fd)))
    files.write_all_or_nothing([(tmp_path / "a", b"a"), (tmp_path / "sub" / "b", b"b"), (tmp_path / "c", b"c")])
    directories = [path for path in synced if os.path.isdir(path)]
    assert sorted(directories) == sorted([str(tmp_path), str(tmp_path / "sub")])
