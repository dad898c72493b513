"""How fast the site builds, against targets and against a plain mkdocs-material build.

    python benchmarks/site_build.py [--sizes 1000] [--repeat 2]

Targets (the site issue): `mkdocs build` of a generated knowledge base of 1,000 claims in
<= 60 s, and at most 1.5 times a plain mkdocs-material build of as many static pages
(60-line Markdown pages, same theme, search plugin and an equally short nav; a nav that
lists every page makes MkDocs quadratic, which is why ours is short). The real knowledge
base is timed too. The machine is shared and noisy: each figure is the best of
`--repeat` runs, and the comparison is a ratio measured in the same run. Plots are
cached, so the first build of a knowledge base with runs is slower than the next.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _generate import generate

REPO = Path(__file__).resolve().parent.parent
CONFIG = REPO / "mkdocs.yml"
TARGET_S = 60.0
TARGET_RATIO = 1.5

PLAIN_CONFIG = """\
site_name: plain
docs_dir: docs
theme:
  name: material
  font: false
plugins:
  - search
markdown_extensions:
  - tables
  - toc:
      permalink: true
nav:
{nav}
"""

PLAIN_PAGE = """\
# Page {n}

{paragraphs}

| column | value | note |
|---|---|---|
{rows}

## Details

{paragraphs}
"""


def best_of(repeat: int, argv: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    times, code, log = [], 0, ""
    for _ in range(repeat):
        start = time.perf_counter()
        result = subprocess.run(argv, env=env, capture_output=True, text=True)
        times.append(time.perf_counter() - start)
        code, log = result.returncode, result.stderr[-2000:]
    return min(times), code, log


def build_argv(config: Path, output: Path) -> list[str]:
    return [sys.executable, "-m", "mkdocs", "build", "--strict", "-q", "-f", str(config), "-d", str(output)]


def plain_site(root: Path, pages: int) -> Path:
    """`pages` static 60-line pages with a nav of 11 entries, like our mkdocs.yml."""
    docs = root / "docs"
    docs.mkdir(parents=True)
    paragraph = " ".join(["A sentence of ordinary prose about a claim and its evidence."] * 4)
    paragraphs = "\n\n".join([paragraph] * 10)
    rows = "\n".join(f"| row {i} | {i * 1.5:.2f} | a note |" for i in range(20))
    for n in range(pages):
        path = docs / ("index.md" if n == 0 else f"pages/p{n}/index.md")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(PLAIN_PAGE.format(n=n, paragraphs=paragraphs, rows=rows), encoding="utf-8")
    nav = "\n".join(
        f"  - Page {n}: {'index.md' if n == 0 else f'pages/p{n}/index.md'}" for n in range(min(11, pages))
    )
    config = root / "mkdocs.yml"
    config.write_text(PLAIN_CONFIG.format(nav=nav), encoding="utf-8")
    return config


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000])
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if k != "KB_ROOT"} | {"NO_MKDOCS_2_WARNING": "1"}
    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out"
        real_s, real_code, real_log = best_of(args.repeat, build_argv(CONFIG, out), env | {"KB_ROOT": str(REPO)})
        results["real"] = {"build_s": round(real_s, 2), "exit": real_code,
                           "pages": sum(1 for _ in out.rglob("index.html"))}
        if real_code:
            results["real"]["log"] = real_log  # type: ignore[index]
        for size in args.sizes:
            root = generate(Path(tmp) / f"kb{size}", size)
            kb_env = env | {"KB_ROOT": str(root)}
            kb_s, kb_code, kb_log = best_of(args.repeat, build_argv(CONFIG, out), kb_env)
            pages = sum(1 for _ in out.rglob("index.html"))
            plain = plain_site(Path(tmp) / f"plain{size}", pages)
            plain_s, plain_code, _ = best_of(args.repeat, build_argv(plain, Path(tmp) / "plain-out"), env)
            ratio = kb_s / plain_s
            results[f"generated_{size}"] = {
                "claims": size,
                "pages": pages,
                "kb_build_s": round(kb_s, 2),
                "kb_exit": kb_code,
                "plain_material_s": round(plain_s, 2),
                "plain_exit": plain_code,
                "ratio_kb_over_plain": round(ratio, 3),
                "target_s": TARGET_S,
                "target_ratio": TARGET_RATIO,
                "ok": kb_code == 0 and plain_code == 0 and kb_s <= TARGET_S and ratio <= TARGET_RATIO,
            }
            if kb_code:
                results[f"generated_{size}"]["log"] = kb_log  # type: ignore[index]
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
