"""Terminal rendering with rich: the only package that imports it.

The shared primitives (consoles, `safe`, `print_json`, `error`) live in `base`; the rest lives
in modules by noun (claims, runs, jobs, data, markdown, new) and is re-exported here, so
callers keep writing `render.<name>`.
"""

from kb.render.base import error as error
from kb.render.base import print_json as print_json
from kb.render.base import safe as safe
from kb.render.base import stderr as stderr
from kb.render.base import stdout as stdout
from kb.render.claims import claim_table as claim_table
from kb.render.claims import claim_view as claim_view
from kb.render.claims import open_table as open_table
from kb.render.claims import problems as problems
from kb.render.data import crate_report as crate_report
from kb.render.data import crate_summary as crate_summary
from kb.render.data import export_report as export_report
from kb.render.data import index_report as index_report
from kb.render.data import index_summary as index_summary
from kb.render.jobs import JobFollower as JobFollower
from kb.render.jobs import collected as collected
from kb.render.jobs import job_cancelled as job_cancelled
from kb.render.jobs import job_table as job_table
from kb.render.markdown import markdown_text as markdown_text
from kb.render.markdown import status_summary_markdown as status_summary_markdown
from kb.render.new import new_claim_report as new_claim_report
from kb.render.new import new_experiment_report as new_experiment_report
from kb.render.runs import RunProgress as RunProgress
from kb.render.runs import plans as plans
from kb.render.runs import run_report as run_report
from kb.render.runs import run_summary as run_summary
from kb.render.runs import status_changes as status_changes
from kb.render.runs import status_table as status_table
from kb.render.runs import touched_experiments as touched_experiments
from kb.render.runs import verdicts as verdicts
from kb.render.runs import verify_report as verify_report
from kb.render.runs import verify_summary as verify_summary
