"""Running experiments: `kb run`, `kb jobs`, `kb verify`, `kb changed`.

`plan` (which experiments and seeds a request means), `batch` (which seeds are known and
which are new, and the run records written from them), `pool` (the local process pool),
`runner` (dispatch to the local pool or to submitted jobs), `executors` and `jobs`
(submitit: local or Slurm), `seedproc` and `worker` (one seed in its own process), `sandbox` (the seed's scratch folder and fences),
`provenance`, `verify`, `config` (Slurm settings) and `changes` (what a git change touches).

May import: `kb.formats`, `kb.checking`, `kb.evidence`. torch only inside the worker process.
"""
