"""Files only their owner may read: the data folder (0700) and what is in it (0600).

The SQLite databases hold the audit log with every draft's texts and the tokens' digests;
made with the process's umask they were 0644 in a 0755 folder, readable by every local
user. SQLite gives a database's `-wal` and `-shm` files the database file's own mode, so
creating the database file 0600 before SQLite opens it covers all three.
"""

import os
from pathlib import Path

FOLDER_MODE = 0o700
FILE_MODE = 0o600
SQLITE_COMPANIONS = ("", "-wal", "-shm", "-journal")


def private_folder(path: Path) -> Path:
    """Make `path` (and missing parents) and leave it 0700: for a folder that is ours alone
    (`DATA_DIR`), never for one a person named for other things too (`.`)."""
    path.mkdir(mode=FOLDER_MODE, parents=True, exist_ok=True)
    os.chmod(path, FOLDER_MODE)
    return path


def private_database_file(path: Path) -> None:
    """An SQLite database at `path` (and its companions) 0600, made so before SQLite makes
    it; a missing folder is made 0700, an existing one is left as it is."""
    if not path.parent.exists():
        private_folder(path.parent)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE))
    for suffix in SQLITE_COMPANIONS:
        companion = path.with_name(path.name + suffix)
        if companion.exists():
            os.chmod(companion, FILE_MODE)
