"""The published site: pages generated from the knowledge base and its run records.

`kb.site.generate.generate_site(kb, records, options)` is a pure function returning
`{relative path: text}` (Markdown pages, SVG plots, the Atom feed), deterministic and
sorted; `kb/site/hook.py` is the thin MkDocs hook that adds those files to a build, and
`kb.site.build` runs MkDocs for `kb site build | serve`.

Claim, source and run-record text arrives by pull request, so it is untrusted: it is
only ever placed, HTML-escaped, inside HTML that this package builds (`kb.site.html`),
never handed to Markdown, and page titles given to the theme are stripped of markup
characters. This module stays import-free so `kb --help` does not pay for it.
"""
