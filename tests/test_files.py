"""autograd.files.write_atomic: whole files or nothing, and only regular files replaced."""

import os
import socket

import pytest

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

