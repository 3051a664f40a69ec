"""The CLI edge: every command registered with help, errors → exit codes, one line on stderr."""

from __future__ import annotations

import json
import re
from pathlib import Path

import click
import pytest
from click.testing import CliRunner, Result

from tests.builders import git
from verda_patch import __version__, errors
from verda_patch.cli import COMMANDS, EXIT_BUG, EXIT_INTERRUPTED, cli

SPEC_COMMANDS = [
    "init",
    "demo",
    "list",
    "apply",
    "new",
    "cherry-pick",
    "export",
    "prune",
    "import",
    "base",
    "check",
    "review",
    "archive",
    "tag",
    "cache",
]


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_help_lists_every_spec_command_in_order() -> None:
    result = run("--help")
    assert result.exit_code == 0
    listed = re.findall(r"^  ([a-z-]+)\s", result.stdout.split("Commands:")[1], re.MULTILINE)
    assert listed == SPEC_COMMANDS == list(COMMANDS)
    for option in ("--repo", "--json", "--verbose", "--quiet", "--version"):
        assert option in result.stdout
    assert "Exit status: 0 success, 1 a patch or check failed, 2 bad usage or input" in " ".join(
        result.stdout.split()
    )


@pytest.mark.parametrize("command", SPEC_COMMANDS)
def test_every_command_has_help(command: str) -> None:
    result = run(command, "--help")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"Usage: cli {command}") or "Usage:" in result.stdout
    summary = cli.get_command(click.Context(cli), command)
    assert summary is not None and (summary.help or "").strip()


def test_version() -> None:
    result = run("--version")
    assert (result.exit_code, result.stdout) == (0, f"verda-patch, version {__version__}\n")


@pytest.mark.parametrize("args", [("frobnicate",), ("--nope", "list"), ("list", "a", "b")])
def test_bad_usage_is_exit_2(args: tuple[str, ...]) -> None:
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "Usage:" in result.stderr and "Traceback" not in result.stderr


def test_exit_codes_are_class_attributes() -> None:
    for cls in (errors.UserError, errors.ConfigError, errors.PatchError, errors.UpstreamError):
        assert cls.exit_code == 2, cls
    for cls in (
        errors.OperationFailed,
        errors.PatchConflict,
        errors.CheckFailed,
        errors.DirtyWorkTree,
        errors.GitError,
        errors.NothingToDo,
    ):
        assert cls.exit_code == 1, cls


def test_error_text_carries_file_line_and_hint() -> None:
    exc = errors.ConfigError("nova.commit is empty", file="base-commit", line=3, hint="give it")
    assert str(exc) == "base-commit:3: nova.commit is empty (give it)"
    assert str(errors.UserError("plain")) == "plain"


# --- the edge, with throwaway commands on the real group -------------------------------


def _raiser(exc: BaseException) -> click.Command:
    @click.command("boom")
    def boom() -> None:
        raise exc

    return boom


@pytest.fixture
def boom(monkeypatch: pytest.MonkeyPatch):
    def install(exc: BaseException) -> None:
        monkeypatch.setitem(cli.commands, "boom", _raiser(exc))

    return install


@pytest.mark.parametrize(
    ("exc", "code", "line"),
    [
        (
            errors.PatchError("no diff found", file="p/0001-x.patch", hint="write a diff"),
            2,
            "error: p/0001-x.patch: no diff found (write a diff)",
        ),
        (errors.ConfigError("bad", file="base-commit", line=7), 2, "error: base-commit:7: bad"),
        (errors.CheckFailed("review/nova is out of date"), 1, "error: review/nova is out of date"),
        (
            errors.PatchConflict("does not apply", patch="general/0001-x.patch"),
            1,
            "error: does not apply",
        ),
        (
            OSError(28, "No space left on device", "/repo/.verda/x"),
            1,
            "error: No space left on device: /repo/.verda/x (nothing was half-written; fix it and "
            "re-run)",
        ),
    ],
)
def test_errors_become_one_line_and_an_exit_code(
    boom, exc: BaseException, code: int, line: str
) -> None:
    boom(exc)
    for args in (["boom"], ["--json", "boom"]):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == code
        assert result.stdout == ""
        assert result.stderr == line + "\n"


def test_a_bug_says_so_and_the_traceback_needs_verbose(boom) -> None:
    boom(ZeroDivisionError("division by zero"))
    result = CliRunner().invoke(cli, ["boom"])
    assert result.exit_code == EXIT_BUG == 3
    assert "internal error: ZeroDivisionError: division by zero" in result.stderr
    assert "This is a bug in verda-patch" in result.stderr and "Traceback" not in result.stderr
    verbose = CliRunner().invoke(cli, ["-v", "boom"])
    assert verbose.exit_code == 3 and "Traceback" in verbose.stderr


def test_user_errors_show_a_traceback_only_with_verbose(boom) -> None:
    boom(errors.UserError("nope"))
    assert "Traceback" not in CliRunner().invoke(cli, ["boom"]).stderr
    verbose = CliRunner().invoke(cli, ["-v", "boom"])
    assert verbose.exit_code == 2 and "Traceback" in verbose.stderr
    assert verbose.stderr.rstrip().endswith("error: nope")


def test_ctrl_c_is_exit_130(boom) -> None:
    boom(KeyboardInterrupt())
    result = CliRunner().invoke(cli, ["boom"])
    assert result.exit_code == EXIT_INTERRUPTED == 130
    assert result.stderr == "verda-patch: interrupted\n"


def _join_race() -> None:
    # what Thread.join does when Ctrl-C lands in it and the thread ends meanwhile
    try:
        raise KeyboardInterrupt
    except KeyboardInterrupt:
        raise RuntimeError("release unlocked lock") from None


def test_an_error_raised_while_ctrl_c_unwinds_is_exit_130(monkeypatch) -> None:
    # it was exit 3 "internal error: RuntimeError: release unlocked lock"
    @click.command()
    def racy() -> None:
        _join_race()

    monkeypatch.setitem(cli.commands, "racy", racy)
    result = CliRunner().invoke(cli, ["racy"])
    assert result.exit_code == EXIT_INTERRUPTED
    assert result.stderr == "verda-patch: interrupted\n"


def test_error_paths_are_relative_to_the_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "base-commit").write_text("nova:\n  upstream: /srv/nova\n  commit: 604230\n")
    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(cli, ["list"])
    assert result.exit_code == 2
    assert result.stderr.startswith("error: base-commit:3: nova.commit must be a full 40-hex")


# --- user settings cannot change our output ---------------------------------------------


def test_user_git_environment_cannot_redirect_init(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    git(victim, "init", "-q")
    before = sorted(p.name for p in (victim / ".git").iterdir())
    monkeypatch.setenv("GIT_DIR", str(victim / ".git"))
    monkeypatch.setenv("GIT_WORK_TREE", str(victim))
    root = tmp_path / "repo"
    result = run("--repo", str(root), "--json", "init")
    assert result.exit_code == 0 and json.loads(result.stdout)["git_initialized"] is True
    assert (root / ".git").is_dir()
    assert sorted(p.name for p in (victim / ".git").iterdir()) == before


def test_terminal_settings_do_not_change_list_output(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "repo"
    folder = root / "patches" / "nova" / "general"
    folder.mkdir(parents=True)
    (root / "base-commit").write_text("nova:\n  upstream: /srv/nova\n  commit: " + "a" * 40 + "\n")
    subject = "Make the scheduler weigh hosts by free RAM instead of free vCPUs in every cell"
    (folder / "0001-x.patch").write_text(
        f"From: Zoë <z@example.org>\nSubject: [PATCH] {subject}\n\nWhy.\n---\n"
        "diff --git a/f b/f\n--- a/f\n+++ b/f\n@@ -1 +1 @@\n-a\n+b\n"
    )
    plain_json, plain_table = (
        run("--repo", str(root), *a).stdout for a in (["--json", "list"], ["list"])
    )
    for name, value in (
        ("COLUMNS", "20"),
        ("LINES", "5"),
        ("TERM", "dumb"),
        ("FORCE_COLOR", "1"),
        ("LC_ALL", "C"),
        ("PAGER", "false"),
    ):
        monkeypatch.setenv(name, value)
    assert run("--repo", str(root), "--json", "list").stdout == plain_json
    table = run("--repo", str(root), "list").stdout
    assert subject in table and subject in plain_table


def _all_commands() -> list[tuple[str, click.Command]]:
    found = []
    for name in COMMANDS:
        command = cli.get_command(click.Context(cli), name)
        assert command is not None
        found.append((name, command))
        if isinstance(command, click.Group):
            found += [(f"{name} {sub}", c) for sub, c in command.commands.items()]
    return found


@pytest.mark.parametrize(("name", "command"), _all_commands())
def test_every_command_takes_the_global_options_after_it(name: str, command: click.Command) -> None:
    # issue 17 / SPEC: "--repo, --json, -v, -q work before or after the command"
    opts = {opt for param in command.params for opt in param.opts}
    assert {"--repo", "--json", "-v", "-q"} <= opts, name


def test_global_options_after_the_command_take_effect(make_upstream, make_patch_repo) -> None:
    up = make_upstream()
    repo = make_patch_repo()
    repo.set_base("sample", up, up.rev("1.0.0"), ref="1.0.0")
    where = str(repo.path)
    listed = run("list", "sample", "--json", "--repo", where)
    assert listed.exit_code == 0, listed.output
    assert json.loads(listed.stdout)["projects"][0]["project"] == "sample"
    applied = run("apply", "sample", "-q", "--repo", where)
    assert applied.exit_code == 0 and applied.stderr == ""
    shown = run("base", "show", "sample", "--no-fetch", "--repo", where, "--json")
    assert json.loads(shown.stdout)["commit"] == up.rev("1.0.0")


def test_verbose_after_the_command_shows_the_traceback(boom) -> None:
    boom(errors.UserError("nope"))
    verbose = CliRunner().invoke(cli, ["boom", "-v"])
    assert verbose.exit_code == 2 and "Traceback" in verbose.stderr


@pytest.mark.parametrize(
    ("typed", "meant"), [("aply", "apply"), ("lsit", "list"), ("chek", "check"), ("prnue", "prune")]
)
def test_a_mistyped_command_suggests_the_right_one(typed: str, meant: str) -> None:
    result = CliRunner().invoke(cli, [typed, "nova"])
    assert result.exit_code == 2
    assert f"No such command '{typed}'. Did you mean '{meant}'" in result.stderr


def test_an_unknown_command_with_no_close_match_lists_nothing() -> None:
    result = CliRunner().invoke(cli, ["frobnicate"])
    assert result.exit_code == 2 and "Did you mean" not in result.stderr
    assert "--help' for help." in result.stderr


def test_errors_about_typed_values_name_the_option(make_upstream, make_patch_repo) -> None:
    # issue 17: 'prune --against no-such-ref' blamed base-commit:1
    up = make_upstream()
    repo = make_patch_repo()
    repo.set_base("sample", up, up.rev("1.0.0"), ref="1.0.0")
    where = str(repo.path)
    pruned = run("--repo", where, "prune", "sample", "--against", "no-such-ref")
    assert pruned.exit_code == 2
    assert "\nerror: --against: 'no-such-ref' is not a branch" in pruned.stderr
    assert "base-commit" not in pruned.stderr
    moved = run("--repo", where, "base", "set", "sample", "no-such-tag")
    assert moved.exit_code == 2
    assert "error: REF: upstream of 'sample' has no" in moved.stderr, moved.stderr
    picked = run("--repo", where, "cherry-pick", "sample", "no-such-rev")
    assert picked.exit_code == 2 and "error: REV: 'no-such-rev'" in picked.stderr, picked.stderr


def test_the_same_value_from_a_file_still_names_the_file(monkeypatch) -> None:
    # only a value the user typed moves the blame to the option
    @click.command()
    @click.option("--against")
    def boom(against: str | None) -> None:
        raise errors.UserError("bad ref", file="base-commit", line=3, value="stable/x")

    monkeypatch.setitem(cli.commands, "boom", boom)
    typed = CliRunner().invoke(cli, ["boom", "--against", "stable/x"])
    assert typed.exit_code == 2 and typed.stderr == "error: --against: bad ref\n"
    for args in (["boom"], ["boom", "--against", "other"]):
        result = CliRunner().invoke(cli, args)
        assert result.stderr == "error: base-commit:3: bad ref\n", args


def _parses(line: str) -> None:
    """Parse an example command line with the real command definitions (nothing runs)."""
    import shlex

    args = shlex.split(line)
    assert args[0] == "verda-patch"
    ctx = cli.make_context("verda-patch", args[1:])
    group: click.Group = cli
    rest = [*(getattr(ctx, "_protected_args", None) or ctx.protected_args), *ctx.args]
    while True:
        name, command, rest = group.resolve_command(ctx, rest)
        assert command is not None and name is not None, line
        ctx = command.make_context(name, rest, parent=ctx)
        if not isinstance(command, click.Group):
            return
        group = command
        rest = [*(getattr(ctx, "_protected_args", None) or ctx.protected_args), *ctx.args]


@pytest.mark.parametrize(("name", "command"), _all_commands())
def test_every_help_ends_with_examples_that_parse(name: str, command: click.Command) -> None:
    # issue 17: each command's --help ends with one or two examples
    result = run(*name.split(), "--help")
    assert result.exit_code == 0
    head, _, examples = result.stdout.rpartition("Examples:\n")
    assert head, f"{name} --help has no examples"
    lines = [line.strip() for line in examples.splitlines() if line.strip()]
    assert 1 <= len(lines) <= 2, lines
    for line in lines:
        assert line.startswith(f"verda-patch {name.split()[0]}") or " init" in line, line
        _parses(line)
