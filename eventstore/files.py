"""Files the ledger creates are private to its operating-system user (docs/rules.md#file-modes).

The store and its WAL/SHM, the key database, the views database, the key file and every export are created 0600,
the directories the ledger creates 0700. A file is created empty with its mode before SQLite or a writer opens it:
SQLite gives a database's -wal, -shm and -journal files the mode of the database file. A file that already
exists keeps its mode (the operator may have chosen it), except the key file, which must be private to start.
"""

from __future__ import annotations

import os
from pathlib import Path

FILE_MODE = 0o600
DIR_MODE = 0o700


def private_dir(path: Path) -> None:
    """Create ``path`` (and missing parents) 0700; an existing directory is left as it is."""
    if path.is_dir():
        return
    missing = []
    for parent in [path, *path.parents]:
        if parent.exists():
            break
        missing.append(parent)
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=DIR_MODE)
        except FileExistsError:
            continue
        os.chmod(directory, DIR_MODE)  # mkdir's mode passes through the umask


def private_file(path: Path) -> None:
    """Create ``path`` empty and 0600 when it does not exist (its directory 0700 when missing too)."""
    if path.exists():
        return
    private_dir(path.parent)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, FILE_MODE)
    except FileExistsError:
        return
    os.close(fd)
    os.chmod(path, FILE_MODE)  # os.open's mode passes through the umask
