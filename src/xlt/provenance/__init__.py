"""Provenance: how every output of a run can be traced back to what made it.

- `records`: the sidecar `<output>.prov.json` beside every output (written and read back);
- `jobs`: the wrapper every workflow script runs in (`run_job`: log, threads, sidecars, errors);
- `explain`: the chain of files behind one file or one table row (`xlt explain`);
- `audit`: a whole results tree checked against its sidecars (`xlt audit`);
- `crate`: a results tree's provenance as a Workflow Run RO-Crate (`xlt crate`).

The sidecar functions most callers need are importable from here.
"""

from xlt.provenance.records import (
    now,
    read_provenance,
    recorded_path,
    resolve_recorded,
    sidecar_path,
    write_provenance,
)

__all__ = [
    "now",
    "read_provenance",
    "recorded_path",
    "resolve_recorded",
    "sidecar_path",
    "write_provenance",
]
