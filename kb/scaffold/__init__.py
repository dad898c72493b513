"""`kb new claim | experiment`: files that `kb check` accepts as written.

`claim` drafts and writes a claim YAML (with BibTeX stubs for unknown citekeys);
`experiment` writes a working `repro/<name>.py` from a template and links it to a
prediction.

May import: `kb.formats`, `kb.checking`, `kb.evidence`. Never the command line or rich.
"""
