"""Tables on disk: CSV written atomically, floats to 6 significant digits, read back as written."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from xlt.io import atomic_path


def write_table(frame: pd.DataFrame, path: str | Path) -> None:
    """Write a table as CSV atomically, floats to 6 significant digits."""
    with atomic_path(path) as tmp:
        frame.to_csv(tmp, index=False, float_format="%.6g")


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a table written by `write_table` (item ids stay strings)."""
    return pd.read_csv(path, dtype={"id": str})
