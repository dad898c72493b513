"""README.md is tested: its install commands agree with the torch pin, its sample error is what
`kb check` prints, and every `kb` command in its bash blocks runs and exits as documented."""

from __future__ import annotations

import re
import shlex
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version
from support import REPO, run_kb

README = (REPO / "README.md").read_text(encoding="utf-8")
CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def bash_blocks(text: str = README) -> list[str]:
    return re.findall(r"^```bash\n(.*?)^```$", text, re.M | re.S)


def commands(block: str) -> list[list[str]]:
    """Each command of a block as argv: continuation lines joined, `&&` chains split."""
    out = []
    for line in block.replace("\\\n", " ").splitlines():
        line = line.split(" #", 1)[0].strip()
        for part in filter(None, (p.strip() for p in line.split("&&"))):
            out.append(shlex.split(part))
    return out


def kb_commands(block: str) -> list[list[str]]:
    """The `kb ...` invocations of a block (`.venv/bin/kb` included), as kb's arguments."""
    return [argv[1:] for argv in commands(block) if argv[0] in ("kb", ".venv/bin/kb")]


def section(title: str) -> str:
    start = README.index(title)
    end = README.find("\n#", start + len(title))
    return README[start : end if end != -1 else None]


# --- installing: the CPU-only and the default (GPU) path ---------------------------------


def torch_pin() -> Requirement:
    extras = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    (pin,) = [Requirement(r) for r in extras["lab"] if Requirement(r).name == "torch"]
    return pin


def test_install_commands_agree_with_the_torch_pin() -> None:
    pin = torch_pin()
    (version,) = [s.version for s in pin.specifier if s.operator == "=="]
    text = section("### Installing: CPU only or with a GPU")
    installs = [c for b in bash_blocks(text) for c in commands(b) if c[1:3] == ["install", "-e"]]
    cpu = [c for c in installs if CPU_INDEX in c]
    gpu = [c for c in installs if CPU_INDEX not in c]
    assert len(cpu) == 1 and len(gpu) == 1, installs
    # Both install the same extras; the CPU one adds PyTorch's index (an extra index: kb's
    # other dependencies are not on it) and nothing else.
    assert cpu[0][cpu[0].index(CPU_INDEX) - 1] == "--extra-index-url"
    assert [a for a in cpu[0] if a not in ("--extra-index-url", CPU_INDEX)] == gpu[0]
    assert ".[lab,dev]" in gpu[0]
    # The CPU index's wheel of the pinned version satisfies the pin and wins over PyPI's.
    cpu_wheel = Version(f"{version}+cpu")
    assert pin.specifier.contains(cpu_wheel) and cpu_wheel > Version(version)
    assert f"to {version}" in text and f"{version}+cpu" in text
    # The Quickstart's first command is the default install, as the text after it says.
    quickstart = commands(bash_blocks(section("## Quickstart"))[0])
    assert quickstart[1] == gpu[0]
    assert f"torch {version}" in section("## Quickstart")


# --- the sample error message ------------------------------------------------------------


def copy_repo(dest: Path) -> Path:
    """A clone of this repository (statuses need its history), with the working tree's
    tracked files copied over it, so uncommitted edits are tested too."""
    subprocess.run(["git", "clone", "-q", str(REPO), str(dest)], check=True, timeout=120)
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True
    ).stdout.decode().split("\0")
    for name in filter(None, files):
        source = REPO / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    return dest


def test_the_sample_error_is_what_kb_check_prints(tmp_path: Path) -> None:
    (sample,) = re.findall(r"^  `(claims/\S+\.yaml:\d+:\d+: .*)`$", README, re.M)
    file, line = sample.split(":")[0], int(sample.split(":")[1])
    root = tmp_path / "kb"
    for name in ("claims", "repro"):
        shutil.copytree(REPO / name, root / name, ignore=shutil.ignore_patterns("__pycache__"))
    path = root / file
    lines = path.read_text(encoding="utf-8").split("\n")
    # The sample is about a misspelt stance: make that mistake at the line it names.
    assert re.fullmatch(r"\s+stance: refutes", lines[line - 1]), lines[line - 1]
    lines[line - 1] = lines[line - 1].replace("refutes", "refute")
    path.write_text("\n".join(lines), encoding="utf-8")
    result = run_kb("check", "--no-cache", cwd=root)
    assert result.returncode == 1
    assert sample in result.stdout.splitlines()


# --- every kb command in a bash block runs and exits as documented -----------------------

SLOW = ("verify", "run", "site")  # blocks with these re-execute experiments or build the site
BLOCKS = [b for b in bash_blocks() if kb_commands(b)]


def test_the_blocks_are_found() -> None:
    found = [argv[:2] for b in BLOCKS for argv in kb_commands(b)]
    assert ["check"] in found and ["new", "claim"] in found and ["site", "build"] in found


def run_block(block: str, root: Path, tmp_path: Path) -> None:
    env = {"KB_SITE_CACHE": str(tmp_path / "plot-cache"), "NO_MKDOCS_2_WARNING": "1"}
    for argv in kb_commands(block):
        result = run_kb(*argv, cwd=root, env=env, timeout=900)
        assert result.returncode == 0, f"kb {shlex.join(argv)}\n{result.stdout}\n{result.stderr}"


@pytest.mark.parametrize(
    "block", [b for b in BLOCKS if not any(a[0] in SLOW for a in kb_commands(b))]
)
def test_readme_kb_commands(block: str, tmp_path: Path) -> None:
    run_block(block, copy_repo(tmp_path / "repo"), tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize("block", [b for b in BLOCKS if any(a[0] in SLOW for a in kb_commands(b))])
def test_readme_kb_commands_that_run_experiments(block: str, tmp_path: Path) -> None:
    root = copy_repo(tmp_path / "repo")
    run_block(block, root, tmp_path)
    if "site" in block:
        assert (root / "site-build/index.html").is_file()
