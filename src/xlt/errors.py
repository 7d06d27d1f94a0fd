"""xlt's own error: an expected failure a user can act on, reported in one line.

Bad config, bad data, missing files, a model that cannot be found, a mismatched adapter, a bad
template, predictions that cannot be read: each raises a subclass of `XltError` whose message
says what is wrong, where (file:line, config key or item) and what to do. Workflow scripts print
it as `xlt: error: <message>` without a traceback (`XLT_DEBUG=1` adds the traceback to the
rule's log). Anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import os


class XltError(Exception):
    """An expected failure; the message is complete on its own (what, where, what to do)."""


class ConfigError(XltError, ValueError):
    """A config value that cannot work; the message names the key and the fix."""


class DataError(XltError, ValueError):
    """Bad input data; the message names the file, the line and what to do."""


class MissingFileError(XltError, FileNotFoundError):
    """A file the run needs is not there; the message says which and how to make it."""


class DiskFullError(XltError, OSError):
    """A file could not be written because its filesystem is full (or over quota)."""

    def __init__(self, path: object, reason: str = "no space left on device") -> None:
        where = str(path) if path else "a file of this job"
        folder = (os.path.dirname(str(path)) or ".") if path else "."
        self.path, self.reason = path, reason
        super().__init__(
            f"could not write {where}: {reason}. Free space on that filesystem (`df -h "
            f"{folder}`) and rerun; nothing half-written was kept (outputs are written beside "
            "their place and moved there whole)."
        )
