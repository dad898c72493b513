"""The contributor's path: pre-commit hooks, the pull-request workflow, CONTRIBUTING.md,
the pull-request template and CITATION.cff are valid, safe and agree with the code."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from support import REPO

import kb
from kb.cli import app

BIN = Path(sys.executable).parent
WORKFLOWS = sorted((REPO / ".github/workflows").glob("*.yml"))
PR_WORKFLOW = REPO / ".github/workflows/pr.yml"


def tool(
    name: str, *args: str, cwd: Path = REPO, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / name), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


# --- pre-commit ---------------------------------------------------------------------------


def test_hook_manifest_and_config_are_valid() -> None:
    for command, file in (
        ("validate-manifest", ".pre-commit-hooks.yaml"),
        ("validate-config", ".pre-commit-config.yaml"),
    ):
        result = tool("pre-commit", command, file)
        assert result.returncode == 0, result.stdout + result.stderr


def manifest_hook() -> dict[str, Any]:
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text())
    (hook,) = [h for h in hooks if h["id"] == "kb-check"]
    return hook


def test_kb_check_hook_runs_once_on_knowledge_base_files() -> None:
    hook = manifest_hook()
    assert hook["entry"] == "kb check" and hook["language"] == "python"
    assert hook["pass_filenames"] is False
    files = re.compile(hook["files"])
    for path in (
        "claims/demo/x.yaml",
        "claims/references.bib",
        "repro/noisy_bn.py",
        "repro/runs/a/b.json",
    ):
        assert files.search(path), path
    for path in ("README.md", "kb/cli.py", "site/index.md", "tests/golden/base/claims/demo/x.yaml"):
        assert not files.search(path), path


@pytest.mark.slow
def test_kb_check_hook_blocks_a_broken_claim(base_kb: Path, tmp_path: Path) -> None:
    # The manifest's hook as a local one: `language: python` would make pre-commit install
    # kb from the package index; `system` uses this environment's kb, offline.
    hook = {**manifest_hook(), "language": "system"}
    config = {"repos": [{"repo": "local", "hooks": [hook]}]}
    (base_kb / ".pre-commit-config.yaml").write_text(yaml.safe_dump(config))
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}",
        "PRE_COMMIT_HOME": str(tmp_path / "pre-commit-home"),
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
    }
    env.pop("KB_ROOT", None)

    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["git", *args], cwd=base_kb, env=env, capture_output=True, text=True)

    git("init", "-q", "-b", "main")
    git("add", "-A")
    assert git("commit", "-qm", "base").returncode == 0
    good = tool("pre-commit", "run", "--all-files", cwd=base_kb, env=env)
    assert good.returncode == 0, good.stdout + good.stderr
    assert re.search(r"kb check\.+Passed", good.stdout)

    claim = base_kb / "claims/demo/fast-training.yaml"
    claim.write_text(claim.read_text().replace("stance: proposes", "stance: propose"))
    bad = tool("pre-commit", "run", "--all-files", cwd=base_kb, env=env)
    assert bad.returncode == 1
    assert re.search(r"kb check\.+Failed", bad.stdout)
    assert "claims/demo/fast-training.yaml:10:13: sources[0].stance:" in bad.stdout

    assert tool("pre-commit", "install", cwd=base_kb, env=env).returncode == 0
    git("add", "-A")
    blocked = git("commit", "-qm", "a broken claim")
    assert blocked.returncode != 0 and "sources[0].stance" in blocked.stdout + blocked.stderr
    unrelated = tool(
        "pre-commit", "run", "--files", ".pre-commit-config.yaml", cwd=base_kb, env=env
    )
    assert unrelated.returncode == 0 and "no files to check" in unrelated.stdout


# --- GitHub Actions -----------------------------------------------------------------------


def load_workflow(path: Path) -> dict[Any, Any]:
    data = yaml.safe_load(path.read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as true
    return data


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_is_valid_and_never_runs_pr_code_with_write_access(path: Path) -> None:
    result = tool("check-jsonschema", "--builtin-schema", "vendor.github-workflows", str(path))
    assert result.returncode == 0, result.stdout + result.stderr
    workflow = load_workflow(path)
    assert "pull_request_target" not in workflow["on"]
    assert "workflow_run" not in workflow["on"]
    assert workflow["permissions"] == {"contents": "read"}
    for name, job in workflow["jobs"].items():
        granted = job.get("permissions", {})
        if any(level == "write" for level in granted.values()):
            # Only the Pages deployment writes, only for pushes to main, and it checks out nothing.
            assert "refs/heads/main" in job["if"] and "push" in job["if"], name
            assert not any("checkout" in step.get("uses", "") for step in job["steps"]), name


def test_pr_workflow_runs_every_check_with_timeouts_and_no_secrets() -> None:
    text = PR_WORKFLOW.read_text()
    workflow = load_workflow(PR_WORKFLOW)
    assert list(workflow["on"]) == ["pull_request"]
    assert workflow["concurrency"]["cancel-in-progress"] is True
    assert "secrets." not in text and "GITHUB_TOKEN" not in text
    jobs = workflow["jobs"]
    for name, job in jobs.items():
        assert 0 < job["timeout-minutes"] <= 60, name
        assert "permissions" not in job, name
        checkout = next(
            s for s in job["steps"] if s.get("uses", "").startswith("actions/checkout@")
        )
        assert checkout["with"]["fetch-depth"] == 0, name  # the base branch must be there
    runs = "\n".join(step.get("run", "") for job in jobs.values() for step in job["steps"])
    for command in (
        "pip install -e '.[lab,dev]'",
        "kb check",
        "ruff check",
        "mypy",
        "python -m pytest",
        'kb run --changed-since "origin/$BASE_REF" --scale smoke --seeds 3 --device cpu --jobs 2',
        "mkdocs build --strict",
        'kb status --since "origin/$BASE_REF" --format markdown',
        '>> "$GITHUB_STEP_SUMMARY"',
    ):
        assert command in runs, command
    assert "${{" not in runs  # event data reaches scripts through env, never spliced in
    uploads = [
        s for j in jobs.values() for s in j["steps"] if "upload-artifact" in s.get("uses", "")
    ]
    assert uploads and uploads[0]["with"]["path"] == "status-changes.md"


# --- CITATION.cff -------------------------------------------------------------------------


def test_citation_is_valid_cff_with_the_package_version() -> None:
    result = tool(
        "check-jsonschema", "--builtin-schema", "vendor.citation-file-format", "CITATION.cff"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    cff = yaml.safe_load((REPO / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0"
    assert str(cff["version"]) == kb.__version__
    assert cff["authors"] == [{"name": "kb contributors"}]
    assert "doi" not in cff and "identifiers" not in cff  # none exists yet


# --- CONTRIBUTING.md and the pull-request template -----------------------------------------


def checklist(text: str) -> list[str]:
    """Checklist items, each joined onto one line."""
    items: list[str] = []
    for line in text.splitlines():
        if line.startswith("- [ ] "):
            items.append(line[6:].strip())
        elif items and line.startswith("      ") and line.strip():
            items[-1] += " " + line.strip()
    return items


def test_template_holds_the_reviewer_checklist() -> None:
    contributing = (REPO / "CONTRIBUTING.md").read_text()
    reviewer = checklist(contributing.split("## What a reviewer checks", 1)[1])
    template = checklist((REPO / ".github/pull_request_template.md").read_text())
    assert len(reviewer) >= 8
    # The template may name files more precisely; otherwise the same items, in order.
    assert [
        re.sub(r" in `kb/formats/experiment.py`| \(`kb status[^)]*\)", "", t) for t in template
    ] == reviewer


def documented_commands(text: str) -> list[list[str]]:
    """The words after `kb` of each command line in the document's code and code spans."""
    blocks = re.findall(r"```\w*\n(.*?)```", text, re.S)
    spans = re.findall(r"`([^`\n]+)`", re.sub(r"```\w*\n.*?```", "", text, flags=re.S))
    found = []
    for snippet in [*blocks, *spans]:
        for line in snippet.replace("\\\n", " ").splitlines():
            words = re.split(r"\s+#", line)[0].split()
            for i, word in enumerate(words):
                starts = i == 0 or words[i - 1] in {"&&", "||", ";", "|"}  # not `ruff check kb`
                if word == "kb" and starts and i + 1 < len(words):
                    found.append(words[i + 1 :])
    return found


@pytest.mark.parametrize("doc", ["CONTRIBUTING.md", "site/contributing.md"])
def test_documented_commands_and_options_exist(doc: str) -> None:
    root: Any = typer.main.get_command(app)
    seen = documented_commands((REPO / doc).read_text())
    assert {"check", "run", "changed", "status"} <= {words[0] for words in seen}
    for words in seen:
        command = root.commands.get(words[0])
        shown = f"kb {words[0]}"
        if hasattr(command, "commands"):  # a group such as `kb site`
            shown += f" {words[1]}"
            command = command.commands.get(words[1])
        assert command is not None, f"{doc} documents `{shown}`, which does not exist"
        known = {o for p in command.params for o in p.opts} | {"--help"}
        missing = [w for w in words if w.startswith("--") and w.split("=")[0] not in known]
        assert not missing, f"{doc}: `{shown}` has no option {', '.join(missing)}"
