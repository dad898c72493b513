"""The knowledge base and its runs flattened into rows: one list of dicts per table.

The SQL index (kb/data/index.py) and the CSV/Parquet/JSON exports (kb/data/export.py) are both
built from these rows, so the two can never disagree about what a column means.
"""

from __future__ import annotations

import json
from typing import Any

from kb.checking.knowledge import KnowledgeBase
from kb.formats.records import RunRecord

Rows = dict[str, list[dict[str, Any]]]

TABLES = (
    "claims",
    "sources",
    "references",
    "predictions",
    "experiments",
    "runs",
    "seed_results",
    "metrics",
)


def flatten(kb: KnowledgeBase, records: list[RunRecord]) -> Rows:
    """Every table's rows, in a deterministic order."""
    out: Rows = {name: [] for name in TABLES}
    for cid in sorted(kb.claims):
        loaded = kb.claims[cid]
        c = loaded.claim
        status = c.status
        out["claims"].append(
            {
                "id": c.id,
                "kind": c.kind.value,
                "topic": c.topic,
                "title": c.title,
                "statement": c.statement,
                "summary": c.summary,
                "explains": c.explains,
                "refines": c.refines,
                "tags": ",".join(c.tags),
                "status": status.value.value if status else None,
                "certainty": status.certainty.value if status else None,
                "basis": status.basis if status else None,
                "reason": status.reason if status else None,
                "file": loaded.file,
                "created": c.created.isoformat(),
                "updated": c.updated.isoformat(),
            }
        )
        for i, s in enumerate(c.sources):
            out["sources"].append(
                {
                    "claim_id": c.id,
                    "position": i,
                    "citekey": s.citekey,
                    "stance": s.stance.value,
                    "locator": s.locator,
                    "note": s.note,
                    "quote": s.quote,
                }
            )
        verdicts = {v.prediction: v for v in (status.verdicts if status else [])}
        for p in c.predictions:
            v = verdicts.get(p.id)
            out["predictions"].append(
                {
                    "claim_id": c.id,
                    "prediction_id": p.id,
                    "statement": p.statement,
                    "experiment": p.experiment,
                    "metric": p.metric,
                    "expect": p.expect,
                    "open": p.open,
                    "verdict": v.verdict.value if v else "untested",
                    "scale": v.scale if v else None,
                    "estimate": v.estimate if v else None,
                    "interval_low": v.interval[0] if v and v.interval else None,
                    "interval_high": v.interval[1] if v and v.interval else None,
                    "level": v.level if v else None,
                    "p_adjusted": v.p_adjusted if v else None,
                    "n": v.n if v else 0,
                    "confirmatory": v.confirmatory if v else None,
                }
            )
    for key in sorted(kb.references):
        r = kb.references[key]
        out["references"].append(
            {
                "key": key,
                "entry_type": r.entry_type,
                "title": r.title,
                "authors": " and ".join(r.authors),
                "year": r.year,
                "doi": r.doi,
                "eprint": r.eprint,
                "url": r.url,
            }
        )
    for name in sorted(kb.experiment_info):
        info = kb.experiment_info[name]
        out["experiments"].append(
            {
                "name": name,
                "title": info.title,
                "script": f"repro/{info.path.name}",
                "scales": json.dumps(sorted(info.scales)),
                "metrics": json.dumps(info.metrics, sort_keys=True),
            }
        )
    for record in records:
        out["runs"].append(
            {
                "id": record.id,
                "experiment": record.experiment,
                "scale": record.scale,
                "outcome": record.outcome.value,
                "seeds": len(record.seeds),
                "seeds_ok": len(record.ok_results()),
                "started": record.started.isoformat(),
                "finished": record.finished.isoformat(),
                "wall_s": record.wall_s,
                "commit": record.git.commit,
                "dirty": record.git.dirty,
                "device": record.hardware.device,
                "cpu": record.hardware.cpu,
                "gpu": record.hardware.gpu,
                "torch": record.packages.get("torch"),
                "script_sha256": record.script_sha256,
                "config": json.dumps(record.config, sort_keys=True),
            }
        )
        for result in record.results:
            out["seed_results"].append(
                {
                    "run_id": record.id,
                    "seed": result.seed,
                    "key": result.key,
                    "outcome": result.outcome.value,
                    "wall_s": result.wall_s,
                    "device": result.device,
                    "reused": result.reused,
                    "reason": result.reason,
                }
            )
            for metric, value in sorted(result.metrics.items()):
                out["metrics"].append(
                    {
                        "run_id": record.id,
                        "experiment": record.experiment,
                        "scale": record.scale,
                        "seed": result.seed,
                        "metric": metric,
                        "value": value,
                    }
                )
    return out
