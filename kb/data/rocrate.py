"""`kb export-run`: one run as a Workflow Run RO-Crate (https://w3id.org/ro/wfrun/workflow/0.5).

The experiment script is the crate's main entity, a `ComputationalWorkflow` carrying its
sha256 and the package versions the run used (`softwareRequirements`). One `CreateAction`
is the run: the script as `instrument`; the config, scale and seeds as `object`; the run
record and one JSON file per seed as `result`; start and end times; and `actionStatus`
from the run's outcome. The claims whose predictions the run tests are in the crate
(their YAML files), and each prediction is a `Claim` entity that is part of its file,
with the sha256 it had at run time; the crate is `about` those predictions.

Files keep their repository paths (`repro/...`, `claims/...`) so the crate reads like
the repository it came from. The `rocrate` library builds and writes it.
"""

from __future__ import annotations

import io
import json
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kb.checking.knowledge import KnowledgeBase
from kb.data.export import EXPORT_DIR, files_in, staged
from kb.formats.errors import KbError
from kb.formats.records import RunOutcome, RunRecord, prediction_sha256, record_path, sha256_bytes

WORKFLOW_RUN_CRATE = "https://w3id.org/ro/wfrun/workflow/0.5"
PROCESS_RUN_CRATE = "https://w3id.org/ro/wfrun/process/0.5"
WORKFLOW_RO_CRATE = "https://w3id.org/workflowhub/workflow-ro-crate/1.0"
PROFILES = {
    PROCESS_RUN_CRATE: ("Process Run Crate", "0.5"),
    WORKFLOW_RUN_CRATE: ("Workflow Run Crate", "0.5"),
    WORKFLOW_RO_CRATE: ("Workflow RO-Crate", "1.0"),
}
RO_CRATE_VERSION = "1.1"
_STATUS = "http://schema.org/{}ActionStatus"


@dataclass(frozen=True)
class CrateReport:
    path: Path
    record: RunRecord
    files: list[str]  # paths inside the crate, metadata file included
    entities: int


def export_run(kb: KnowledgeBase, run_id: str, output: Path | None) -> CrateReport:
    """Write the run `run_id` (or an experiment's latest run) as an RO-Crate folder."""
    from kb.running.verify import find_record

    record = find_record(kb, run_id)
    output = output if output is not None else kb.root / EXPORT_DIR / f"rocrate-{record.id}"
    crate = _build(kb, record)
    with staged(output, replace=True) as stage:
        crate.write(stage)
        files = sorted(name.as_posix() for name in files_in(stage))  # in string order
    return CrateReport(output, record, files, len(crate.get_entities()))


def _build(kb: KnowledgeBase, record: RunRecord) -> Any:
    from rocrate.model.computerlanguage import ComputerLanguage
    from rocrate.rocrate import ROCrate

    # Workflow Run Crate 0.5 is written against RO-Crate 1.1 and Workflow RO-Crate 1.0; the
    # library's default (RO-Crate 1.3, hence Workflow RO-Crate 1.1) is not what it names.
    crate = ROCrate(version=RO_CRATE_VERSION)
    crate.name = f"{record.experiment} [{record.scale}] run {record.id}"
    crate.description = (
        f"One run of {record.script} at {record.scale} scale over "
        f"{len(record.seeds)} seed(s), recorded by kb, with the predictions it tests."
    )
    python = crate.add(
        ComputerLanguage(
            crate,
            "#python",
            properties={
                "name": "Python",
                "url": {"@id": "https://www.python.org/"},
                "version": record.packages.get("python", ""),
            },
        )
    )
    packages = [
        _entity(crate, f"#package-{name}", "SoftwareApplication", name=name, version=version)
        for name, version in sorted(record.packages.items())
        if name != "python"
    ]
    info = kb.experiment_info.get(record.experiment)
    workflow = crate.add_workflow(
        io.BytesIO(_script_that_ran(kb, record)),
        dest_path=record.script,
        main=True,
        lang=python,
        properties={
            "name": info.title if info else record.experiment,
            "sha256": record.script_sha256,
            "encodingFormat": "text/x-python",
            "softwareRequirements": packages,
        },
    )
    crate.root_dataset["conformsTo"] = [
        _entity(crate, uri, "CreativeWork", name=name, version=version)
        for uri, (name, version) in PROFILES.items()
    ]

    config = _json_file(crate, "config.json", record.config, "Configuration of the run")
    scale = _entity(crate, "#scale", "PropertyValue", name="scale", value=record.scale)
    seeds = _entity(crate, "#seeds", "PropertyValue", name="seeds", value=list(record.seeds))
    run_file = crate.add_file(
        record_path(kb.root, record),
        dest_path=f"repro/runs/{record.experiment}/{record.id}.json",
        properties={
            "name": f"Run record {record.id}",
            "encodingFormat": "application/json",
            "description": "The record kb wrote: provenance, config, per-seed metrics.",
        },
    )
    seed_files = [
        _json_file(
            crate,
            f"results/seed-{r.seed}.json",
            r.model_dump(mode="json", exclude_none=True),
            f"Seed {r.seed}: {r.outcome.value}",
        )
        for r in record.results
    ]
    status = _status(record)
    action = crate.add_action(
        workflow,
        identifier=f"#run-{record.id}",
        object=[config, scale, seeds],
        result=[run_file, *seed_files],
        properties={
            "@type": "CreateAction",
            "name": f"Run {record.id} of {record.experiment} [{record.scale}]",
            "description": _description(record),
            "startTime": record.started.isoformat(),
            "endTime": record.finished.isoformat(),
            "actionStatus": {"@id": _STATUS.format(status)},
        },
    )
    if status == "Failed":
        action["error"] = _error(record)
    crate.root_dataset.append_to("mentions", action)
    predictions = _predictions(crate, kb, record)
    if predictions:
        crate.root_dataset["about"] = predictions
    return crate


def _script_that_ran(kb: KnowledgeBase, record: RunRecord) -> bytes:
    """The script's bytes as they were at run time: today's file or the recorded commit's."""
    path = kb.root / record.script
    current = path.read_bytes() if path.is_file() else None
    if current is not None and sha256_bytes(current) == record.script_sha256:
        return current
    if record.git.commit:
        try:
            shown = subprocess.run(
                ["git", "show", f"{record.git.commit}:./{record.script}"],
                cwd=kb.root,
                capture_output=True,
                timeout=30,
            )
        except (OSError, subprocess.TimeoutExpired):
            shown = None
        if shown and shown.returncode == 0 and sha256_bytes(shown.stdout) == record.script_sha256:
            return shown.stdout
    raise KbError(
        f"{record.script} changed since run {record.id} and no commit holds the version that "
        "ran (its sha256 differs): the crate would not describe the script that ran"
    )


def _entity(crate: Any, entity_id: str, kind: str, /, **properties: Any) -> Any:
    from rocrate.model.contextentity import ContextEntity

    return crate.add(ContextEntity(crate, entity_id, properties={"@type": kind, **properties}))


def _json_file(crate: Any, dest: str, data: object, name: str) -> Any:
    text = json.dumps(data, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    return crate.add_file(
        io.BytesIO(text.encode()),
        dest_path=dest,
        properties={"name": name, "encodingFormat": "application/json"},
    )


def _predictions(crate: Any, kb: KnowledgeBase, record: RunRecord) -> list[Any]:
    """Each prediction the run serves, as a Claim inside its claim file when that still exists."""
    files: dict[str, Any] = {}
    out = []
    for ref in record.predictions:
        loaded = kb.claims.get(ref.claim)
        prediction = (
            next((p for p in loaded.claim.predictions if p.id == ref.prediction), None)
            if loaded
            else None
        )
        properties: dict[str, Any] = {
            "name": f"{ref.claim} / {ref.prediction}",
            "identifier": ref.prediction,
            "sha256": ref.sha256,
        }
        if loaded and prediction:
            if ref.claim not in files:
                files[ref.claim] = crate.add_file(
                    loaded.path,
                    dest_path=loaded.file,
                    properties={
                        "name": loaded.claim.title,
                        "identifier": loaded.claim.id,
                        "description": " ".join(loaded.claim.statement.split()),
                        "encodingFormat": "application/yaml",
                    },
                )
            properties["text"] = " ".join(prediction.statement.split())
            properties["isPartOf"] = files[ref.claim]
            if prediction_sha256(ref.claim, prediction) != ref.sha256:
                properties["creativeWorkStatus"] = "changed since this run: the run is stale for it"
        else:
            properties["creativeWorkStatus"] = "no longer in the knowledge base"
        out.append(
            _entity(crate, f"#prediction-{ref.claim}-{ref.prediction}", "Claim", **properties)
        )
    return out


def _status(record: RunRecord) -> str:
    # A partial run completed: its failed seeds are results too, each with its reason.
    return "Completed" if record.outcome in (RunOutcome.ok, RunOutcome.partial) else "Failed"


def _error(record: RunRecord) -> str:
    if record.outcome is RunOutcome.interrupted:
        return "interrupted by the user"
    reasons = sorted({r.reason or "failed" for r in record.results if r.outcome.value != "ok"})
    return "every seed failed: " + "; ".join(reasons)


def _description(record: RunRecord) -> str:
    hw = record.hardware
    commit = record.git.commit or "no git commit"
    dirty = " with uncommitted changes" if record.git.dirty else ""
    return (
        f"{record.command}; on {hw.device} ({hw.cpu}, {hw.cores} cores"
        + (f", {hw.gpu}" if hw.gpu else "")
        + f", {hw.platform}); commit {commit}{dirty}; wall time {record.wall_s:.1f} s"
    )
