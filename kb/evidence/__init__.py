"""The evidence engine: from run records and literature stances to verdicts and statuses.

`stats` (intervals and corrections, pure functions of numbers), `verdicts` (pooling the
seeds of a prediction's runs), `rules` (the status and certainty rule tables and the
derivation), `methodology` (the page that states those rules, generated from them),
`registration` (pre-registration and record ancestry from git), `history` (each claim's
status history, read from git), `writeback` (statuses into the claim YAML, comments kept)
and `statuses` (assess the whole knowledge base, refresh, find stale).

May import: `kb.formats`, `kb.checking`. Never the command line, rich or torch.
"""
