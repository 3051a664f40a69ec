"""Every command has help and a docs page; README starts with the two commands."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from verda_patch.cli import COMMANDS, cli

ROOT = Path(__file__).resolve().parent.parent
DOCS = "\n".join(p.read_text() for p in sorted((ROOT / "docs").rglob("*.md")))


def _commands() -> list[tuple[str, ...]]:
    ctx = click.Context(cli)
    out: list[tuple[str, ...]] = []
    for name in COMMANDS:
        command = cli.get_command(ctx, name)
        assert command is not None
        out.append((name,))
        if isinstance(command, click.Group):
            out += [(name, sub) for sub in command.list_commands(ctx)]
    return out


@pytest.mark.parametrize("words", _commands(), ids=" ".join)
def test_command_has_help_and_a_docs_page(words):
    result = CliRunner().invoke(cli, [*words, "--help"])
    assert result.exit_code == 0, result.output
    assert "not available yet" not in result.output
    usage, _, body = result.output.partition("\n\n")
    assert body.strip(), f"'{' '.join(words)}' has no help text"
    pattern = r"verda-patch (?:\[[^\]]*\] )*(?:--\S+ )*" + r"\s+".join(map(re.escape, words))
    assert re.search(pattern, DOCS), f"no docs page shows 'verda-patch {' '.join(words)}'"


def test_readme_starts_with_the_two_commands():
    text = (ROOT / "README.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)\n```", text, re.S)
    assert blocks[0].strip() == "pip install -e . && verda-patch demo"
    assert blocks[1].strip() == "pip install -e '.[test]' && python -m pytest -q"
    ci = (ROOT / ".ci/run").read_text()
    assert "pip install -e '.[test]' && python -m pytest -q" in ci


def test_docs_index_links_resolve():
    index = ROOT / "docs/index.md"
    for target in re.findall(r"\]\(([^)#]+)\)", index.read_text()):
        assert (index.parent / target).exists(), target
