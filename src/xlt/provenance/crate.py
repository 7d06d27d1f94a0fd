"""`xlt crate results/ OUT`: a results tree's provenance as a Workflow Run RO-Crate.

The crate follows the Provenance Run Crate profile (https://w3id.org/ro/wfrun/provenance/0.5,
on RO-Crate 1.1), built with ro-crate-py from the sidecars (`<file>.prov.json`):

- the workflow (the Snakefile) is the crate's `mainEntity`, a `ComputationalWorkflow` and
  `HowTo` whose `step`s (`HowToStep`, one per rule) name the rule as a tool (`workExample`);
- each sidecar is one rule job: a `CreateAction` with the tool as `instrument`, its inputs as
  `object`, its output as `result`, the recorded start and end times, and the tool's package
  versions (`softwareRequirements`: torch, transformers, peft, ... and xlt's git commit);
- Snakemake's run is an `OrganizeAction` (the engine, with its version, as `instrument`) whose
  `object` is one `ControlAction` per job (step -> job) and whose `result` is the workflow run,
  a `CreateAction` with the Snakefile as `instrument`, the sources it read as `object` and
  the files no job read back (tables, figures, findings) as `result`.

Files are data entities with their recorded `sha256` and size. They are copied into the crate
(a self-contained export) unless `copy_data=False`, which describes them without copying (the
crate then refers to files beside it: write it into the workflow directory to resolve them).
"""

from __future__ import annotations

import os
import warnings
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar

from rocrate.model.computationalworkflow import ComputationalWorkflow
from rocrate.model.contextentity import ContextEntity
from rocrate.model.softwareapplication import SoftwareApplication
from rocrate.rocrate import ROCrate

from xlt.errors import DataError, MissingFileError
from xlt.provenance.records import SUFFIX, Record, now, shown

PROFILES = {
    "process": "https://w3id.org/ro/wfrun/process/0.5",
    "workflow": "https://w3id.org/ro/wfrun/workflow/0.5",
    "provenance": "https://w3id.org/ro/wfrun/provenance/0.5",
    "workflow-ro-crate": "https://w3id.org/workflowhub/workflow-ro-crate/1.0",
}
# The Workflow Run Crate term for a file's checksum, declared inline (no remote context).
SHA256_TERM = "https://w3id.org/ro/terms/workflow-run#sha256"
FORMAL_PARAMETER = "https://bioschemas.org/profiles/FormalParameter/1.0-RELEASE"
SNAKEMAKE_URL = "https://snakemake.github.io"
LICENSE = "https://spdx.org/licenses/Apache-2.0"
BIOSCHEMAS_WORKFLOW = "https://bioschemas.org/profiles/ComputationalWorkflow/1.0-RELEASE"
FORMATS = {
    ".csv": "text/csv",
    ".json": "application/json",
    ".jsonl": "application/jsonl",
    ".md": "text/markdown",
    ".png": "image/png",
    ".py": "text/x-python",
    ".smk": "text/x-python",
    ".yaml": "application/yaml",
    ".parquet": "application/vnd.apache.parquet",
}


def _sidecars(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob(f"*{SUFFIX}") if not p.name.startswith("."))


def _workdir(records: Iterable[Record]) -> Path:
    """The directory the jobs ran in (the workflow directory), as most sidecars say."""
    bases = Counter(str(r.base) for r in records)
    return Path(bases.most_common(1)[0][0]) if bases else Path.cwd()


class _Builder:
    """Adds entities to one crate; each file, tool and package once."""

    def __init__(self, workdir: Path, copy_data: bool) -> None:
        self.crate = ROCrate(version="1.1")  # the Workflow Run Crate profiles 0.5 build on 1.1
        self.crate.metadata.extra_terms["sha256"] = SHA256_TERM
        self.workdir = workdir
        self.copy_data = copy_data
        self.files: dict[str, Any] = {}
        self.parameters: dict[str, Any] = {}
        self.software: dict[str, Any] = {}

    def file(self, path: str, sha256: str | None) -> Any:
        """The data entity of a file or directory (relative to the workflow directory)."""
        if path in self.files:
            return self.files[path]
        is_dir = os.path.isdir(path)
        rel = os.path.relpath(path, self.workdir)
        props: dict[str, Any] = {"name": shown(path)}
        if sha256:
            props["sha256"] = sha256
        if os.path.isfile(path):
            props["contentSize"] = str(os.path.getsize(path))
        if Path(path).suffix in FORMATS:
            props["encodingFormat"] = FORMATS[Path(path).suffix]
        if rel.startswith(".."):  # outside the workflow directory: described, never copied
            props["@type"] = "Dataset" if is_dir else "File"
            entity = self.crate.add(ContextEntity(self.crate, f"#file-{sha256 or rel}", props))
        elif self.copy_data and os.path.exists(path):
            add = self.crate.add_dataset if is_dir else self.crate.add_file
            entity = add(source=path, dest_path=rel, properties=props)
        else:  # described, not copied: a data entity of the crate all the same
            props["@type"] = "Dataset" if is_dir else "File"
            ident = rel.replace(os.sep, "/") + ("/" if is_dir else "")
            entity = self.crate.add(ContextEntity(self.crate, ident, props))
            self.crate.root_dataset.append_to("hasPart", entity)
        self.files[path] = entity
        return entity

    def parameter(self, rule: str, name: str, example: Any) -> Any:
        """The FormalParameter of one input (or the output) of a rule."""
        key = f"#param-{rule}-{name}"
        if key not in self.parameters:
            kind = "Dataset" if "Dataset" in _types(example) else "File"
            self.parameters[key] = self.crate.add(
                ContextEntity(
                    self.crate,
                    key,
                    {
                        "@type": "FormalParameter",
                        "name": f"{rule}.{name}",
                        "additionalType": kind,
                        "conformsTo": {"@id": FORMAL_PARAMETER},
                        "workExample": {"@id": example.id},
                    },
                )
            )
        parameter = self.parameters[key]
        example.append_to("exampleOfWork", parameter)
        return parameter

    def application(self, key: str, name: str, version: str | None, **props: Any) -> Any:
        """A SoftwareApplication (a package, the engine, a rule), added once."""
        if key not in self.software:
            values = {"name": name, **props}
            if version:
                values["softwareVersion"] = version
            self.software[key] = self.crate.add(SoftwareApplication(self.crate, key, values))
        return self.software[key]

    def requirements(self, record: Record) -> list[Any]:
        """The packages (name and version) and xlt code version a job ran with."""
        env = record.raw.get("environment") or {}
        found = [
            self.application(_pypi(name, version), name, version)
            for name, version in sorted((env.get("packages") or {}).items())
            if name != "xlt"
        ]
        code = record.raw.get("code") or {}
        commit = code.get("git_commit")
        if commit or code.get("package"):
            dirty = " with uncommitted changes" if code.get("git_dirty") else ""
            found.append(
                self.application(
                    f"#software-xlt-{(commit or code.get('package'))[:12]}",
                    "xlt",
                    code.get("package"),
                    **(
                        {"identifier": commit, "description": f"git {commit}{dirty}"}
                        if commit
                        else {}
                    ),
                )
            )
        return found


def _pypi(name: str, version: str | None) -> str:
    """A package release as an absolute URI: its PyPI page."""
    return (
        f"https://pypi.org/project/{name}/{version}/"
        if version
        else f"https://pypi.org/project/{name}/"
    )


def _workflow_class() -> type:
    """ro-crate-py's ComputationalWorkflow, also a `HowTo`: the profile's type for a workflow
    that lists its steps."""

    class StepwiseWorkflow(ComputationalWorkflow):
        TYPES: ClassVar[list[str]] = [*ComputationalWorkflow.TYPES, "HowTo"]

    return StepwiseWorkflow


def _types(entity: Any) -> list[str]:
    kind = entity.type
    return kind if isinstance(kind, list) else [kind]


def write_crate(
    root: str | Path,
    out: str | Path,
    *,
    snakefile: str | Path = "Snakefile",
    copy_data: bool = True,
) -> Path:
    """Write the Provenance Run Crate of the results tree `root` into the directory `out`."""
    root, out, snakefile = Path(root), Path(out), Path(snakefile)
    if not root.is_dir():
        raise MissingFileError(f"{root}: no such directory; give the results directory.")
    if not snakefile.is_file():
        raise MissingFileError(f"{snakefile}: no such workflow file; pass --snakefile.")
    records = [Record.read(side) for side in _sidecars(root)]
    if not records:
        raise DataError(f"{root}: no provenance sidecars (*{SUFFIX}); run the workflow first.")
    records.sort(key=lambda r: (r.raw.get("started") or r.raw.get("finished") or "", r.output))
    build = _Builder(_workdir(records), copy_data)
    crate = build.crate
    workflow = crate.add_workflow(
        source=snakefile,
        dest_path="Snakefile",
        main=True,
        lang="snakemake",
        cls=_workflow_class(),
        properties={"encodingFormat": "text/x-python", "conformsTo": {"@id": BIOSCHEMAS_WORKFLOW}},
    )
    workflow["name"] = "xlt: cross-lingual transfer study workflow"
    engine_version = Counter(
        (r.raw.get("environment") or {}).get("packages", {}).get("snakemake") for r in records
    ).most_common(1)[0][0]
    engine = build.application(
        _pypi("snakemake", engine_version), "Snakemake", engine_version, url={"@id": SNAKEMAKE_URL}
    )
    rules = list(dict.fromkeys(r.rule for r in records))
    tools, steps = {}, {}
    for position, rule in enumerate(rules):
        tools[rule] = build.application(f"#tool-{rule}", f"rule {rule}", None)
        steps[rule] = crate.add(
            ContextEntity(
                crate,
                f"#step-{rule}",
                {
                    "@type": "HowToStep",
                    "name": rule,
                    "position": str(position),
                    "workExample": {"@id": tools[rule].id},
                },
            )
        )
    workflow["step"] = list(steps.values())
    workflow["hasPart"] = list(tools.values())

    produced: set[str] = set()
    consumed: set[str] = set()
    controls = []
    for number, record in enumerate(records):
        rule = record.rule
        output = build.file(record.output, record.output_sha256)
        inputs = []
        for (path, digest), name in zip(record.inputs, _input_names(record), strict=True):
            entity = build.file(path, digest)
            inputs.append(entity)
            tools[rule].append_to("input", build.parameter(rule, name, entity))
            consumed.add(path)
        tools[rule].append_to("output", build.parameter(rule, "output", output))
        produced.add(record.output)
        for requirement in build.requirements(record):
            tools[rule].append_to("softwareRequirements", requirement)
        props = {
            "@type": "CreateAction",
            "name": f"{rule}: {shown(record.output)}",
            "description": f"Snakemake rule {rule} made {shown(record.output)}.",
            "actionStatus": "http://schema.org/CompletedActionStatus",
        }
        if record.raw.get("started"):
            props["startTime"] = record.raw["started"]
        if record.raw.get("finished"):
            props["endTime"] = record.raw["finished"]
        job = crate.add_action(
            tools[rule], f"#job-{number}", object=inputs or None, result=output, properties=props
        )
        controls.append(
            crate.add_action(
                steps[rule],
                f"#control-{number}",
                object=[job],
                properties={"@type": "ControlAction", "name": f"orchestrate {job['name']}"},
            )
        )
    _dedupe(tools.values(), ("input", "output", "softwareRequirements"))
    _dedupe(build.files.values(), ("exampleOfWork",))
    _workflow_files(crate, snakefile)
    times = [t for r in records for t in (r.raw.get("started"), r.raw.get("finished")) if t]
    span = {"startTime": min(times), "endTime": max(times)} if times else {}
    sources = [build.files[p] for p in build.files if p in consumed and p not in produced]
    finals = [build.files[p] for p in build.files if p in produced and p not in consumed]
    run = crate.add_action(
        workflow,
        "#workflow-run",
        object=sources or None,
        result=finals or None,
        properties={"@type": "CreateAction", "name": f"xlt workflow run: {shown(root)}", **span},
    )
    crate.add_action(
        engine,
        "#engine-run",
        object=controls,
        result=[run],
        properties={"@type": "OrganizeAction", "name": "Snakemake run", **span},
    )
    crate.root_dataset["mentions"] = [run]
    crate.root_dataset["name"] = f"Provenance of {shown(root)}"
    crate.root_dataset["description"] = (
        f"Workflow Run RO-Crate (Provenance Run Crate 0.5) of the xlt results tree {shown(root)}: "
        f"{len(records)} rule jobs of {len(rules)} rules, from their provenance sidecars."
    )
    crate.root_dataset["datePublished"] = now()
    crate.root_dataset["license"] = crate.add(
        ContextEntity(crate, LICENSE, {"@type": "CreativeWork", "name": "Apache License 2.0"})
    )
    for profile in PROFILES.values():
        _conforms_to(crate, profile)
    _single_values(crate)
    out.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "No source for ...": described, deliberately not copied
        crate.write(out)
    return out


def _workflow_files(crate: Any, snakefile: Path) -> None:
    """The rule files and scripts the Snakefile includes (beside it, as in this repository)."""
    home = snakefile.parent
    for pattern in ("rules/*.smk", "scripts/*.py"):
        for path in sorted(home.glob(pattern)):
            rel = path.relative_to(home).as_posix()
            kind = "SoftwareSourceCode"
            crate.add_file(source=path, dest_path=rel, properties={"@type": ["File", kind]})


def _input_names(record: Record) -> list[str]:
    """The rule's name of each recorded input, in the order of `record.inputs`."""
    names = []
    for name, value in record.raw.get("inputs", {}).items():
        names += [name] * (len(value) if isinstance(value, list) else 1)
    return names


def _dedupe(entities: Iterable[Any], keys: Iterable[str]) -> None:
    """`append_to` repeats references; keep each once, in order."""
    for entity in entities:
        for key in keys:
            values = entity.get(key)
            if isinstance(values, list):
                entity[key] = list({v.id: v for v in values}.values())


def _single_values(crate: Any) -> None:
    """RO-Crate 1.1 prefers a single value to a list of one (`append_to` makes lists)."""
    for entity in crate.get_entities():
        for key, value in list(entity.properties().items()):
            if not key.startswith("@") and isinstance(value, list) and len(value) == 1:
                entity[key] = entity[key][0]


def _conforms_to(crate: Any, profile: str) -> None:
    """State on the root dataset that the crate follows `profile` (a CreativeWork entity)."""
    existing = {e.id for e in _as_list(crate.root_dataset.get("conformsTo"))}
    if profile in existing:
        return
    name = profile.removeprefix("https://w3id.org/").replace("/", " ")
    entity = crate.get(profile) or crate.add(
        ContextEntity(
            crate,
            profile,
            {"@type": "CreativeWork", "name": name, "version": profile.rsplit("/", 1)[-1]},
        )
    )
    crate.root_dataset.append_to("conformsTo", entity)


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]
