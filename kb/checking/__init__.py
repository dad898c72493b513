"""Checking the knowledge base: `kb check` and everything that loads claims.

`load` reads every claim file, the references and the experiments into a `KnowledgeBase`
(`knowledge`: the in-memory model everything above reads) with every problem located;
`stances` flags stances that cannot be right and `rules` the repository's own content rules; `crosscheck` holds the checks across files (ids, `explains`,
predictions naming experiments, cycles, repeated statements); `rules` holds the knowledge
base's own content rules from its settings; `similar` scores
near-identical statements; `cache` keeps each file's validated parse by content hash.

May import: `kb.formats`. Never torch, pandas or sqlmodel (`kb check` must start fast).
"""
