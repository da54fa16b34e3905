"""Atomic file writes: a file is either its old self or completely new, never half-written.

:func:`write_atomic` writes to a temporary name in the target's folder, fsyncs it and moves it over the
target with ``os.replace``; a failure (disk full, permission denied) removes the temporary file and raises
an ``OSError`` that names the target, which the command line reports as one line.
"""
from __future__ import annotations

import os
from pathlib import Path


def write_atomic(path: str | Path, data: bytes | str) -> Path:
    """Write ``data`` (``str`` as UTF-8) to ``path`` atomically; returns ``path``.

    Raises:
        OSError: with ``filename`` set to ``path`` (and the errno of the failure, e.g. ENOSPC, EACCES).
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    payload = data.encode() if isinstance(data, str) else data
    try:
        with open(tmp, "wb") as file:
            file.write(payload)
            file.flush()
            os.fsync(file.fileno())
        os.replace(tmp, path)
    except OSError as err:
        raise OSError(err.errno, err.strerror, str(path)) from None
    finally:
        tmp.unlink(missing_ok=True)
    return path
