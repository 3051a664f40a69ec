"""The click group: global options, errors → exit codes, rich / ``--json`` output.

Command modules are imported only when their command runs, so ``--help`` and a
plain ``list`` stay fast; the library below never prints, prompts or exits.
"""

from __future__ import annotations

import contextvars
import functools
import importlib
import json
import logging
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, TypeVar

import click
import click.shell_completion

from verda_patch import __version__
from verda_patch.display import visible
from verda_patch.errors import UserError, VerdaError
from verda_patch.upstreams import redact

if TYPE_CHECKING:
    from rich.console import Console

    from verda_patch.config import RepoConfig
    from verda_patch.policy import Policy
    from verda_patch.store import Store

F = TypeVar("F", bound=Callable[..., Any])

# name → "module:attribute"; the order here is the order `--help` shows.
COMMANDS = {
    "init": "verda_patch.commands.init:init",
    "demo": "verda_patch.commands.demo:demo",
    "list": "verda_patch.commands.list:list_",
    "apply": "verda_patch.commands.apply:apply",
    "new": "verda_patch.commands.new:new",
    "cherry-pick": "verda_patch.commands.cherry_pick:cherry_pick",
    "export": "verda_patch.commands.export:export",
    "prune": "verda_patch.commands.prune:prune",
    "import": "verda_patch.commands.import_:import_",
    "base": "verda_patch.commands.base:base",
    "check": "verda_patch.commands.check:check",
    "review": "verda_patch.commands.review:review",
    "archive": "verda_patch.commands.archive:archive",
    "tag": "verda_patch.commands.tag:tag",
    "cache": "verda_patch.commands.cache:cache",
}

EXIT_BUG = 3
from verda_patch.__main__ import EXIT_INTERRUPTED  # noqa: E402  (one definition)


@dataclass
class App:
    """What every command shares, carried on click's context object."""

    repo_option: Path | None
    json: bool
    verbosity: int
    untrusted: bool = False
    verbose: int = 0  # -v count as given (tracebacks on errors, also with --json)
    # the running command's own context: what the user typed, for naming options in errors
    command_ctx: click.Context | None = field(default=None, repr=False)
    _config: RepoConfig | None = field(default=None, repr=False)

    def set_global(self, name: str, value: Any) -> None:
        """A global option given after the command (``list nova --json``)."""
        if name == "repo" and value is not None:
            self.repo_option, self._config = value, None
        elif name == "json" and value:
            self.json, self.verbosity = True, -1
        elif name == "quiet" and value:
            self.verbosity = -1
        elif name == "untrusted" and value:
            self.untrusted, self._config = True, None
        elif name == "verbose" and value:
            self.verbose += value
            _log_git_calls()
            if not self.quiet:
                self.verbosity = self.verbose

    @property
    def quiet(self) -> bool:
        return self.verbosity < 0

    @property
    def root(self) -> Path:
        return self.config.root

    @property
    def config(self) -> RepoConfig:
        if self._config is None:
            from verda_patch import config

            if self.repo_option is not None:
                root = self.repo_option.resolve()
                if not (root / config.BASE_FILE).is_file():
                    raise UserError(
                        f"{root} is not a patch repo: it has no {config.BASE_FILE}",
                        hint="run 'verda-patch init' there, or point --repo at a patch repo",
                    )
            else:
                root = config.find_root(Path.cwd())
            self._config = config.load(root, self.policy)
        return self._config

    @property
    def policy(self) -> Policy:
        """How much the patch repo is trusted: ``--untrusted`` and the environment."""
        from verda_patch.policy import Policy

        return Policy.from_environment(untrusted=self.untrusted)

    @property
    def store(self) -> Store:
        from verda_patch.store import Store

        return Store(self.config)

    def projects(self, names: tuple[str, ...] | list[str]) -> list[str]:
        """Validate project names (exit 2 naming the known ones)."""
        for name in names:
            self.config.project(name)
        return list(names)

    # --- output ---------------------------------------------------------------

    @property
    def out(self) -> Console:
        return _console(sys.stdout)

    @property
    def err(self) -> Console:
        return _console(sys.stderr)

    def say(self, message: str) -> None:
        """A progress or status line on stderr (silent with -q or --json)."""
        if not self.quiet:
            self._stderr().print(visible(redact(message)), highlight=False)

    def warn(self, message: str) -> None:
        self._stderr().print(f"[yellow]warning:[/] {visible(redact(message))}", highlight=False)

    def _stderr(self) -> Console:
        # while a progress bar is live, lines go above it, not glued onto it
        live = _LIVE.get(None)
        return live if live is not None else self.err

    def emit_json(self, document: object) -> None:
        # credentials in upstream URLs never reach the output (issue 18)
        click.echo(redact(json.dumps(document, indent=2, sort_keys=False, default=str)))

    @contextmanager
    def progress(self, description: str) -> Iterator[ProgressBar]:
        """A rich progress bar on stderr when it is a terminal; a no-op otherwise.

        It shows patches done of the total and the file being applied; when
        stderr is not a terminal (a CI log) it stays silent.
        """
        if self.quiet or self.json or not sys.stderr.isatty():
            yield ProgressBar()
            return
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        with Progress(
            TextColumn("{task.description}"),
            BarColumn(bar_width=20),
            MofNCompleteColumn(),
            TextColumn("{task.fields[name]}"),
            console=self.err,
            transient=True,
        ) as bar:
            task = bar.add_task(description, total=None, name="")
            token = _LIVE.set(bar.console)
            try:
                yield ProgressBar(
                    lambda done, total: bar.update(task, completed=done, total=total),
                    # the file name only, cut to fit beside the bar on 80 columns
                    lambda name: bar.update(task, name=name.rsplit("/", 1)[-1][:36]),
                )
            finally:
                _LIVE.reset(token)


_LIVE: contextvars.ContextVar[Console] = contextvars.ContextVar("verda_patch_live_console")


class ProgressBar:
    """What :meth:`App.progress` yields: call it with (done, total); ``current(name)``."""

    def __init__(
        self,
        update: Callable[[int, int], None] | None = None,
        name: Callable[[str], None] | None = None,
    ) -> None:
        self._update = update
        self._name = name

    def __call__(self, done: int, total: int) -> None:
        if self._update is not None:
            self._update(done, total)

    def current(self, name: str) -> None:
        if self._name is not None:
            self._name(name)


def _console(stream: IO[str]) -> Console:
    # Recreated per call: click's CliRunner swaps sys.stdout between invocations.
    return _safe_console()(file=stream, soft_wrap=False, width=None if stream.isatty() else 200)


@functools.cache
def _safe_console() -> type[Console]:
    """A rich Console that shows control characters in every string it prints escaped.

    Every line, table cell and progress text passes through ``render_str``, so a
    subject or file name from a patch cannot steer the terminal (issue 18).
    """
    from rich.console import Console

    class SafeConsole(Console):
        def render_str(self, text: str, **kwargs: Any) -> Any:
            return super().render_str(visible(text), **kwargs)

    return SafeConsole


pass_app = click.make_pass_decorator(App)


def _completion_config(ctx: click.Context) -> RepoConfig | None:
    """The patch repo a command line being completed points at, or None."""
    from verda_patch import config

    root_ctx = ctx.find_root()
    repo = root_ctx.params.get("repo")
    try:
        root = Path(repo).resolve() if repo else config.find_root(Path.cwd())
        return config.load(root)
    except (VerdaError, OSError):
        return None


class RepoName(click.ParamType):  # type: ignore[type-arg]  # generic only in click >= 8.3
    """A name the shell completes from the patch repo the command line points at."""

    def __init__(self, name: str, names: Callable[[RepoConfig | None], Iterable[str]]) -> None:
        self.name = name
        self._names = names

    def shell_complete(
        self, ctx: click.Context, param: click.Parameter, incomplete: str
    ) -> list[click.shell_completion.CompletionItem]:
        from click.shell_completion import CompletionItem

        names = self._names(_completion_config(ctx))
        return [CompletionItem(n) for n in names if n.startswith(incomplete)]


def _categories(loaded: RepoConfig | None) -> Iterable[str]:
    from verda_patch.config import DEFAULT_CATEGORIES

    return loaded.settings.categories if loaded else DEFAULT_CATEGORIES


# projects of base-commit; categories of verda-patch.yaml (or the default three)
PROJECT = RepoName("project", lambda loaded: loaded.projects if loaded else ())
CATEGORY = RepoName("category", _categories)


def _late_global(name: str) -> Callable[[click.Context, click.Parameter, Any], None]:
    def callback(ctx: click.Context, param: click.Parameter, value: Any) -> None:
        app = ctx.find_object(App)
        if app is not None:
            app.command_ctx = ctx  # the innermost command parsed last (base set, not base)
            app.set_global(name, value)

    return callback


# name → (option strings, settings); the group's own options, repeated hidden
_LATE_GLOBALS: dict[str, tuple[list[str], dict[str, Any]]] = {
    "repo": (["--repo"], {"type": click.Path(file_okay=False, path_type=Path)}),
    "json": (["--json"], {"is_flag": True}),
    "verbose": (["-v", "--verbose"], {"count": True}),
    "quiet": (["-q", "--quiet"], {"is_flag": True}),
    "untrusted": (["--untrusted"], {"is_flag": True}),
}


def _global_options() -> list[click.Option]:
    """The group's --repo/--json/-v/-q, accepted after the command too (SPEC: before or after)."""
    return [
        click.Option(opts, hidden=True, expose_value=False, callback=_late_global(name), **extra)
        for name, (opts, extra) in _LATE_GLOBALS.items()
    ]


def _prepare(command: click.Command, name: str) -> click.Command:
    """Give ``command`` (and a group's subcommands) the global options where it has none of
    the same name, and its --help examples; done once per command object."""
    if getattr(command, "_verda_prepared", False):
        return command
    from verda_patch.help_examples import epilog

    taken = {opt for param in command.params for opt in param.opts + param.secondary_opts}
    for option in _global_options():
        if not taken & set(option.opts):
            command.params.append(option)
    if command.epilog is None:
        command.epilog = epilog(name)
    command._verda_prepared = True  # type: ignore[attr-defined]
    if isinstance(command, click.Group):
        for sub_name, sub in command.commands.items():
            _prepare(sub, f"{name} {sub_name}")
    return command


class LazyGroup(click.Group):
    """Imports a command's module only when that command is looked up."""

    def __init__(self, *args: Any, lazy: dict[str, str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return [*self.lazy, *sorted(set(self.commands) - set(self.lazy))]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy:
            module_name, attr = self.lazy[cmd_name].split(":")
            command: click.Command = getattr(importlib.import_module(module_name), attr)
            return _prepare(command, cmd_name)
        found = super().get_command(ctx, cmd_name)
        return _prepare(found, cmd_name) if found else None

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0]
        unknown = not name.startswith("-") and self.get_command(ctx, name) is None
        if unknown and not ctx.resilient_parsing:
            # click's own suggestion looks only at self.commands, empty for lazy commands
            import difflib

            close = difflib.get_close_matches(name, self.list_commands(ctx), n=3, cutoff=0.6)
            guess = " or ".join(f"'{c}'" for c in close)
            ctx.fail(f"No such command '{name}'." + (f" Did you mean {guess}?" if close else ""))
        return super().resolve_command(ctx, args)

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        try:
            return super().make_context(*args, **kwargs)
        except KeyboardInterrupt:
            # Ctrl-C while the command line is parsed: click would say "Aborted!", exit 1
            click.echo("verda-patch: interrupted", err=True)
            sys.exit(EXIT_INTERRUPTED)

    def invoke(self, ctx: click.Context) -> Any:
        def verbose() -> bool:  # -v may come after the command: read it when it is needed
            return isinstance(ctx.obj, App) and ctx.obj.verbose > 0

        try:
            return super().invoke(ctx)
        except VerdaError as exc:
            if isinstance(ctx.obj, App):
                _blame_command_line(exc, ctx.obj.command_ctx)
            _report(exc, verbose())
            ctx.exit(exc.exit_code)
        except KeyboardInterrupt:
            click.echo("verda-patch: interrupted", err=True)
            ctx.exit(EXIT_INTERRUPTED)
        except (click.exceptions.Exit, click.ClickException, click.Abort):
            raise
        except BrokenPipeError:
            # `verda-patch list | head`: the reader left, nothing to report
            sys.stderr.close()
            ctx.exit(1)
        except OSError as exc:
            # disk full, permission denied: the environment failed, not verda-patch
            where = f": {exc.filename}" if exc.filename else ""
            click.echo(
                click.style("error:", fg="red", bold=True)
                + visible(f" {exc.strerror or exc}{where}")
                + " (nothing was half-written; fix it and re-run)",
                err=True,
            )
            ctx.exit(1)
        except Exception as exc:
            if _while_interrupted(exc):
                click.echo("verda-patch: interrupted", err=True)
                ctx.exit(EXIT_INTERRUPTED)
            if verbose():
                import traceback

                traceback.print_exc()
            click.echo(
                f"verda-patch: internal error: {type(exc).__name__}: {visible(str(exc))}\n"
                "This is a bug in verda-patch. Re-run with -v for the traceback and report it.",
                err=True,
            )
            ctx.exit(EXIT_BUG)


def _while_interrupted(exc: BaseException) -> bool:
    """True when ``exc`` was raised while a Ctrl-C was being unwound.

    CPython 3.11's ``Thread.join`` can raise "release unlocked lock" from its
    own handler of a KeyboardInterrupt (a race in ``_wait_for_tstate_lock``);
    that is the user's interrupt, not a bug of ours (seen in the SIGINT-mid-am
    test, issue 17).
    """
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, KeyboardInterrupt):
            return True
        seen.add(id(current))
        current = current.__context__
    return False


def _blame_command_line(exc: VerdaError, command: click.Context | None) -> None:
    """An error about a value the user typed names that option or argument (``--against``),
    not the file the same value could also have come from (``base-commit:1``)."""
    if exc.value is None or command is None:
        return
    from click.core import ParameterSource

    for param in command.command.params:
        if param.name is None or not param.expose_value:
            continue
        given = command.params.get(param.name)
        values = given if isinstance(given, (tuple, list)) else (given,)
        typed = command.get_parameter_source(param.name) == ParameterSource.COMMANDLINE
        if typed and exc.value in values:
            if isinstance(param, click.Option):
                exc.blame_option(max(param.opts, key=len))
            else:
                exc.blame_option(param.human_readable_name)
            return


def _relative(path: str) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return rel if not rel.startswith("../..") else path


def _report(exc: VerdaError, verbose: bool) -> None:
    for error in (exc, *getattr(exc, "errors", ())):  # UnreadablePatches names several
        if isinstance(error, VerdaError) and error.file is not None:
            error.file = _relative(str(error.file))
    text = visible(redact(str(exc)))
    git_message = visible(redact(getattr(exc, "git_message", "") or getattr(exc, "stderr", "")))
    if verbose:
        import traceback

        traceback.print_exception(exc)
    prefix = click.style("error:", fg="red", bold=True)
    click.echo(f"{prefix} {text}", err=True)
    if git_message and verbose:
        click.echo(git_message.rstrip(), err=True)


@click.group(
    cls=LazyGroup,
    lazy=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.option(
    "--repo",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="VERDA_PATCH_REPO",
    help="Patch repo (default: the nearest directory above the cwd holding base-commit).",
)
@click.option("--json", "json_", is_flag=True, help="Print one JSON document on stdout.")
@click.option("-v", "--verbose", count=True, help="Log every git call; tracebacks on errors.")
@click.option("-q", "--quiet", is_flag=True, help="Only errors on stderr.")
@click.option(
    "--untrusted",
    is_flag=True,
    envvar="VERDA_PATCH_UNTRUSTED",
    help="Treat the patch repo as someone else's (CI on pull requests): no credentials or "
    "global git config on fetch, no local-path upstreams, merged commits only, limits. "
    "See docs/security.md.",
)
@click.version_option(__version__, "--version", prog_name="verda-patch")
@click.pass_context
def cli(
    ctx: click.Context, repo: Path | None, json_: bool, verbose: int, quiet: bool, untrusted: bool
) -> None:
    """Keep downstream OpenStack changes as patch files on pristine upstream.

    A patch repo pins each project's upstream commit in base-commit and keeps
    changes in patches/<project>/{cherry-pick,general,customs}/. Start with
    'verda-patch demo' for a tour, or 'verda-patch init' in a new repo.

    Exit status: 0 success, 1 a patch or check failed, 2 bad usage or input.
    """
    if verbose:
        _log_git_calls()
    ctx.obj = App(
        repo_option=repo,
        json=json_,
        verbosity=-1 if quiet or json_ else verbose,
        untrusted=untrusted,
        verbose=verbose,
    )


def _log_git_calls() -> None:
    logging.basicConfig(
        level=logging.DEBUG, format="%(relativeCreated)7.0fms %(name)s: %(message)s"
    )


def main() -> None:
    """The console script (kept for callers of ``verda_patch.cli:main``)."""
    from verda_patch.__main__ import main as entry

    entry()
