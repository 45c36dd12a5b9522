"""Where tuiclient keeps its files, following the XDG base directory spec."""

from __future__ import annotations

import os
import stat
from pathlib import Path

APP_NAME = "tuiclient"


def _xdg_base(variable: str, fallback: str) -> Path:
    # The spec says relative values are invalid and must be ignored, which also
    # protects us from writing secrets into whatever the current directory is.
    value = os.environ.get(variable, "")
    if value and os.path.isabs(value):
        return Path(value)
    return Path.home() / fallback


def config_dir() -> Path:
    """`$XDG_CONFIG_HOME/tuiclient`, by default `~/.config/tuiclient`."""
    return _xdg_base("XDG_CONFIG_HOME", ".config") / APP_NAME


def default_config_path() -> Path:
    """The config file used when no `--config` is given."""
    return config_dir() / "config.toml"


def data_dir() -> Path:
    """`$XDG_DATA_HOME/tuiclient`, by default `~/.local/share/tuiclient`."""
    return _xdg_base("XDG_DATA_HOME", ".local/share") / APP_NAME


def ensure_private_dir(path: Path) -> Path:
    """Create `path` (and its parents) so that only the owner can enter it.

    The store holds mail and chat history, so the directory is 0o700 whatever
    the umask is. An existing directory that we own is tightened too; one that
    belongs to someone else is left alone, since chmod would fail anyway.
    """
    path = Path(path)
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    info = path.stat()
    owned = not hasattr(os, "geteuid") or info.st_uid == os.geteuid()
    # A shared sticky directory such as /tmp is never ours to tighten.
    if owned and not info.st_mode & stat.S_ISVTX and stat.S_IMODE(info.st_mode) != 0o700:
        path.chmod(0o700)
    return path


def default_downloads() -> Path:
    """Where attachments go when neither --dir nor the account's `downloads` says."""
    return Path(os.environ.get("XDG_DOWNLOAD_DIR") or Path.home() / "Downloads")


def state_dir() -> Path:
    """`$XDG_STATE_HOME/tuiclient`, by default `~/.local/state/tuiclient`: the log."""
    return _xdg_base("XDG_STATE_HOME", ".local/state") / APP_NAME
