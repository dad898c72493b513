"""The `kb` command through a real subprocess of the installed console script."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from support import REPO, run_kb


def test_version(base_kb: Path) -> None:
    from kb import __version__

    result = run_kb("--version", cwd=base_kb)
    assert result.returncode == 0 and result.stdout.strip() == f"kb {__version__}"


def test_help_lists_commands(base_kb: Path) -> None:
    result = run_kb("--help", cwd=base_kb)
    assert result.returncode == 0
    for command in ("check", "list", "show", "schema"):
        assert command in result.stdout


def test_check_ok(base_kb: Path) -> None:
    result = run_kb("check", cwd=base_kb)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "checked 1 claim file(s): 0 error(s), 1 warning(s)" in result.stdout


def test_check_json(base_kb: Path) -> None:
    (base_kb / "claims/demo/bad.yaml").write_text("id: bad\nkind: explanation\n")
    result = run_kb("check", "--format", "json", cwd=base_kb)
    assert result.returncode == 1
    report = json.loads(result.stdout)
    assert report["ok"] is False and report["files"] == 2
    assert report["errors"] == len([p for p in report["problems"] if p["severity"] == "error"])
    first = report["problems"][0]
    assert set(first) == {"file", "line", "column", "field", "message", "severity"}


def test_check_outside_a_knowledge_base(tmp_path: Path) -> None:
    result = run_kb("check", cwd=tmp_path)
    assert result.returncode == 1
    assert "no 'claims/' folder" in result.stderr and "Traceback" not in result.stderr


def test_root_option_and_env(base_kb: Path, tmp_path: Path) -> None:
    assert run_kb("check", "--root", str(base_kb), cwd=tmp_path).returncode == 0
    assert run_kb("check", cwd=tmp_path, env={"KB_ROOT": str(base_kb)}).returncode == 0


def test_list_filters_and_json(base_kb: Path) -> None:
    result = run_kb("list", "--format", "json", "--kind", "phenomenon", cwd=base_kb)
    assert result.returncode == 0
    assert [r["id"] for r in json.loads(result.stdout)] == ["fast-training"]
    result = run_kb("list", "--format", "json", "--kind", "explanation", cwd=base_kb)
    assert json.loads(result.stdout) == []
    result = run_kb("list", "--status", "supported", "--format", "json", cwd=base_kb)
    assert json.loads(result.stdout) == []
    result = run_kb("list", "--kind", "bogus", cwd=base_kb)
    assert result.returncode == 2 and "bogus" in result.stderr


def test_list_refuses_an_invalid_knowledge_base(base_kb: Path) -> None:
    (base_kb / "claims/demo/bad.yaml").write_text("id: bad\n")
    result = run_kb("list", cwd=base_kb)
    assert result.returncode == 1
    assert "run `kb check`" in result.stderr and "Traceback" not in result.stderr


def test_show_text_and_json(base_kb: Path) -> None:
    result = run_kb("show", "fast-training", cwd=base_kb)
    assert result.returncode == 0
    assert "Ioffe & Szegedy 2015" in result.stdout and "A phenomenon" in result.stdout
    data = json.loads(run_kb("show", "fast-training", "-f", "json", cwd=base_kb).stdout)
    assert data["sources"][0]["title"].startswith("Batch Normalization")


def test_show_unknown_id(base_kb: Path) -> None:
    result = run_kb("show", "fast-trainin", cwd=base_kb)
    assert result.returncode == 1
    assert "did you mean 'fast-training'" in result.stderr


def test_untrusted_text_is_not_markup_or_escape_codes(base_kb: Path) -> None:
    path = base_kb / "claims/demo/fast-training.yaml"
    text = path.read_text().replace(
        "title: A phenomenon", 'title: "[link=https://evil.example]x[/link] [bold red]\\e[2J"'
    )
    path.write_text(text)
    result = run_kb("show", "fast-training", cwd=base_kb, env={"FORCE_COLOR": "1", "TERM": "xterm"})
    assert result.returncode == 0, result.stderr
    assert "[link=https://evil.example]x[/link] [bold red]" in result.stdout
    assert (
        "\x1b[2J" not in result.stdout and "\x1b]8;" not in result.stdout
    )  # no clear-screen, no hyperlink


def test_schema_is_valid_json_schema(base_kb: Path, tmp_path: Path) -> None:
    out = tmp_path / "schema.json"
    assert run_kb("schema", "-o", str(out), cwd=base_kb).returncode == 0
    schema = json.loads(out.read_text())
    assert schema["title"] == "Claim" and "sources" in schema["required"]


def test_committed_schema_matches_the_models() -> None:
    from kb.formats.schema import json_schema

    committed = json.loads((REPO / "schemas" / "claim.schema.json").read_text())
    assert committed == json_schema(), "regenerate with: kb schema -o schemas/claim.schema.json"


@pytest.mark.parametrize("argv", [["--help"], ["check"], ["list"], ["show", "fast-training"]])
def test_fast_commands_do_not_import_heavy_libraries(argv: list[str], base_kb: Path) -> None:
    code = (
        "import sys\n"
        f"sys.argv = ['kb', *{argv!r}]\n"
        "from kb.cli import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = sorted(m for m in ('torch', 'pandas', 'sqlmodel', 'sqlalchemy', 'numpy', 'scipy') if m in sys.modules)\n"
        "sys.stderr.write('HEAVY=' + ','.join(heavy))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=base_kb, capture_output=True, text=True, timeout=60
    )
    assert "HEAVY=" in result.stderr
    assert result.stderr.rsplit("HEAVY=", 1)[1].strip() == ""


def test_filter_choices_match_the_schema() -> None:
    # kb/cli keeps its own copies of these enums so that `kb --help` need not import the
    # pydantic models; this keeps the copies honest.
    from kb.cli.options import KindFilter, StatusFilter
    from kb.formats.schema import Kind, StatusValue

    assert [k.value for k in KindFilter] == [k.value for k in Kind]
    assert [s.value for s in StatusFilter] == [s.value for s in StatusValue]
