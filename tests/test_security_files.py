"""Issue #10, files: names from strangers stay inside the download folder, nothing
is overwritten, and what we keep on disk is readable by its owner only.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from bridge.engine import default_store_path
from bridge.paths import data_dir
from bridge.safe import safe_basename, write_new_file
from bridge.store import Store
from bridge.xmpp.state import XmppState

# Names a sender chooses for an attachment, or a link's last path segment.
HOSTILE_NAMES = [
    "../../../../etc/passwd",
    "/etc/cron.d/evil",
    "..\\..\\Windows\\System32\\drivers\\etc\\hosts",
    "C:\\Users\\Public\\evil.exe",
    "~/.bashrc",
    ".ssh",
    "..",
    ".",
    "",
    "CON",
    "aux.txt",
    "LPT1.tar.gz",
    "nul",
    "inv\u202eoice\u202cfdp.exe",
    "a\x00b\x1b[31m.txt",
    "x" * 5000 + ".pdf",
    "report.pdf.",
    "\\\\server\\share\\x",
    "%2e%2e%2fpasswd",
]
WINDOWS_DEVICES = {"CON", "PRN", "AUX", "NUL", "COM1", "LPT1"}


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=range(len(HOSTILE_NAMES)))
def test_a_hostile_name_is_saved_inside_the_folder_under_a_safe_name(
        tmp_path: Path, name: str) -> None:
    downloads = tmp_path / "Downloads"
    outside = sorted(p for p in tmp_path.rglob("*"))
    path = write_new_file(downloads, name, b"payload")
    assert path.parent == downloads and path.read_bytes() == b"payload"
    assert path.name == safe_basename(name)
    assert not path.name.startswith(".") and "/" not in path.name and "\\" not in path.name
    assert path.name.split(".")[0].upper() not in WINDOWS_DEVICES
    assert len(path.name.encode()) <= 255 and path.name.isprintable()
    assert not path.name.endswith((".", " "))
    assert "\u202e" not in path.name
    # Nothing was written anywhere but that one new file.
    assert sorted(p for p in tmp_path.rglob("*")) == sorted([*outside, downloads, path])
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


@pytest.mark.parametrize(("name", "saved"), [
    ("../../../../etc/passwd", "passwd"),
    ("..\\..\\Windows\\System32\\drivers\\etc\\hosts", "hosts"),
    ("/etc/cron.d/evil", "evil"),
    ("CON", "CON_"),
    ("inv\u202eoice\u202cfdp.exe", "invoicefdp.exe"),
    ("..", "attachment"),
])
def test_the_saved_name_is_the_base_name(tmp_path: Path, name: str, saved: str) -> None:
    assert write_new_file(tmp_path, name, b"x").name == saved


def test_saving_never_overwrites_and_never_follows_a_planted_link(tmp_path: Path) -> None:
    downloads = tmp_path / "Downloads"
    downloads.mkdir()
    (downloads / "report.pdf").write_bytes(b"mine")
    victim = tmp_path / "victim"
    victim.write_bytes(b"precious")
    (downloads / "report (1).pdf").symlink_to(victim)
    (downloads / "report (2).pdf").symlink_to(tmp_path / "dangling")
    saved = [write_new_file(downloads, "report.pdf", f"copy {i}".encode()) for i in range(3)]
    assert [p.name for p in saved] == ["report (3).pdf", "report (4).pdf", "report (5).pdf"]
    assert (downloads / "report.pdf").read_bytes() == b"mine"
    assert victim.read_bytes() == b"precious"
    assert not (tmp_path / "dangling").exists()
    assert [p.read_bytes() for p in saved] == [b"copy 0", b"copy 1", b"copy 2"]


@contextmanager
def umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_the_data_folder_and_everything_in_it_is_owner_only(tmp_path: Path) -> None:
    """Even with a umask that lets everyone read everything (0), the store, its
    attachments, the chat state and saved files are the owner's alone."""
    with umask(0):
        path = default_store_path()
        store = Store.open(path)
        try:
            digest = store.store_blob(b"attachment bytes")
            blob = store.blob_path(digest)
            state = XmppState.load(path.parent / "xmpp" / "acct.json")
            state.set_thread("bob@example.test", "t1")
            saved = write_new_file(path.parent / "saved", "a.txt", b"x")
        finally:
            store.close()
    assert path.parent == data_dir()
    assert mode(data_dir()) == 0o700
    files = [p for p in data_dir().rglob("*") if p.is_file()]
    assert {path, blob, state.path, saved} <= set(files)
    for file in files:
        assert mode(file) & 0o077 == 0, (file, oct(mode(file)))
    for folder in [p for p in data_dir().rglob("*") if p.is_dir()]:
        assert mode(folder) & 0o077 == 0, (folder, oct(mode(folder)))


def test_an_existing_open_data_folder_is_closed(tmp_path: Path) -> None:
    folder = data_dir()
    folder.mkdir(parents=True)
    folder.chmod(0o755)
    Store.open(default_store_path()).close()
    assert mode(folder) == 0o700
