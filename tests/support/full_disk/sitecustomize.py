"""Test support: a full disk, for the files named in `XLT_FULL_DISK`.

Put this directory first on PYTHONPATH and set `XLT_FULL_DISK` to comma-separated path prefixes
(relative to the working directory): in the jobs of a run (Snakemake's `script:` processes),
opening a file under one of them for writing fails with ENOSPC and no file name, as a write on
a full filesystem does. Snakemake itself is left alone: on a real disk the files it puts back
after a failed job (`update()` outputs) fit in the space the job's removal freed.
"""

from __future__ import annotations

import builtins
import errno
import io
import os
import sys

PREFIXES = tuple(p for p in os.environ.get("XLT_FULL_DISK", "").split(",") if p)

if PREFIXES:
    _open = io.open

    def _open_on_a_full_disk(file, mode="r", *args, **kwargs):
        job = f"{os.sep}.snakemake{os.sep}scripts{os.sep}" in (sys.argv[0] if sys.argv else "")
        writes = isinstance(file, (str, os.PathLike)) and any(m in mode for m in "wax+")
        if job and writes and os.path.relpath(os.fspath(file)).startswith(PREFIXES):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return _open(file, mode, *args, **kwargs)

    io.open = builtins.open = _open_on_a_full_disk
