"""The file formats, at the bottom of the stack: what each file in the repository means.

The claim schema (`schema`, with `expectation` for "> 1.5"-style outcomes), run records
(`records`), the experiment contract as kb reads it without running a script
(`experiment`), BibTeX (`bib`), located YAML reading (`yamlfile`), user errors (`errors`),
reading only regular files inside the knowledge base (`files`) and turning validation
errors into located diagnostics (`diagnose`).

May import: the standard library, pydantic, PyYAML, bibtexparser. Nothing else of kb.
"""
