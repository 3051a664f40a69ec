"""The only code that starts git.

Every call takes an argument list and an explicit ``cwd``; nothing here calls
``os.chdir`` or uses a shell. The environment is built once: ``LC_ALL=C``, the
caller's ``GIT_*`` variables dropped except transport ones, a fixed committer,
and (unless ``user_config=True``, used for fetches so proxies and credentials
still work) the user's global and system config hidden, because a
``commit.gpgSign`` or ``core.autocrlf`` there must not change our commit ids.
"""

from __future__ import annotations

import functools
import logging
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Collection, Generator, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

from verda_patch.errors import GitError

log = logging.getLogger("verda_patch.git")

COMMITTER_NAME = "verda-patch"
COMMITTER_EMAIL = "verda-patch@localhost"

# Transports a user may need for fetching; anything else (ext::, fd::) is refused.
ALLOWED_PROTOCOLS = "file:git:http:https:ssh"

# GIT_* variables that only steer how git reaches a remote; kept so fetches work
# behind proxies and with the user's ssh setup. Everything else (GIT_DIR,
# GIT_INDEX_FILE, GIT_AUTHOR_DATE, ...) would redirect or change our output.
_TRANSPORT_VARS = frozenset(
    {
        "GIT_SSH",
        "GIT_SSH_COMMAND",
        "GIT_SSH_VARIANT",
        "GIT_PROXY_COMMAND",
        "GIT_ASKPASS",
        "GIT_TERMINAL_PROMPT",
        "GIT_SSL_NO_VERIFY",
        "GIT_SSL_CAINFO",
        "GIT_SSL_CAPATH",
        "GIT_HTTP_PROXY_AUTHMETHOD",
        "GIT_HTTP_USER_AGENT",
        "GIT_HTTP_LOW_SPEED_LIMIT",
        "GIT_HTTP_LOW_SPEED_TIME",
        "GIT_CURL_VERBOSE",
        "GIT_ALLOW_PROTOCOL",
        "GIT_EXEC_PATH",
    }
)


@dataclass(frozen=True)
class Result:
    args: tuple[str, ...]
    returncode: int
    stdout: bytes
    stderr: bytes

    @property
    def text(self) -> str:
        return self.stdout.decode("utf-8", "surrogateescape")

    @property
    def err(self) -> str:
        return self.stderr.decode("utf-8", "replace")


@functools.cache
def version() -> tuple[int, ...]:
    """The installed git's version, e.g. (2, 39, 5)."""
    raw = subprocess.run(
        ["git", "--version"], capture_output=True, check=True, env=_base_env(False)
    ).stdout.decode()
    match = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", raw)
    if not match:  # pragma: no cover - every git prints a version
        return (0,)
    return tuple(int(part or 0) for part in match.groups())


def _base_env(user_config: bool) -> dict[str, str]:
    # Not cached: os.environ may change between calls (tests, embedding callers).
    env = {k: v for k, v in os.environ.items() if not k.startswith("GIT_") or k in _TRANSPORT_VARS}
    env["LC_ALL"] = "C"
    env["LANGUAGE"] = "C"
    env["GIT_COMMITTER_NAME"] = COMMITTER_NAME
    env["GIT_COMMITTER_EMAIL"] = COMMITTER_EMAIL
    env.setdefault("GIT_ALLOW_PROTOCOL", ALLOWED_PROTOCOLS)
    env["GIT_TERMINAL_PROMPT"] = env.get("GIT_TERMINAL_PROMPT", "0")
    env["GIT_OPTIONAL_LOCKS"] = "0"
    env["GIT_PAGER"] = "cat"
    if not user_config:
        env["GIT_CONFIG_NOSYSTEM"] = "1"
        env["GIT_CONFIG_GLOBAL"] = os.devnull
        env.pop("GIT_ASKPASS", None)
    return env


@functools.cache
def hermetic_options() -> tuple[str, ...]:
    """``-c`` settings pinned for every call that writes commits or patch text.

    The global config is already hidden; these also override whatever a repo's
    own config says, so a mirror made by an older verda-patch behaves the same.
    """
    opts = [
        "core.autocrlf=false",
        "core.safecrlf=false",
        "core.hooksPath=" + os.devnull,  # no hook may change or veto our commits
        "core.quotePath=true",
        "commit.gpgSign=false",
        "am.threeWay=false",
        "am.keepcr=false",
        "am.messageid=false",
        "apply.whitespace=nowarn",
        "gc.auto=0",
        "maintenance.auto=false",
        "i18n.commitEncoding=UTF-8",
        "i18n.logOutputEncoding=UTF-8",
        "init.defaultBranch=master",
        "advice.detachedHead=false",
        "index.version=4",  # prefix-compressed index: smaller to write per am step
    ]
    if version() >= (2, 36):
        opts.append("core.fsync=none")  # scratch trees are rebuilt, never precious
    if version() >= (2, 40):
        opts.append("index.skipHash=true")
    out: list[str] = []
    for opt in opts:
        out += ["-c", opt]
    return tuple(out)


# inside the git dir of every work tree and scratch tree verda-patch makes (worktree.py)
OWN_MARKER = "verda-patch"


def _made_by_us(cwd: Path | None) -> str | None:
    """The real path of ``cwd`` when verda-patch made the repository there, else None.

    Those (work trees, scratch trees, mirrors in the cache) get ``safe.directory``
    for themselves alone, so a cache shared between users still works; every other
    repository, the patch repo above all, keeps git's ownership check
    (CVE-2022-24765: a ``.git`` of another user above a patch repo folder must not
    run its ``core.fsmonitor``).
    """
    if cwd is None:
        return None
    real = os.path.realpath(cwd)
    if os.path.isdir(os.path.join(real, ".git", OWN_MARKER)):
        return real
    from verda_patch.mirror import cache_root  # mirror imports this module

    cache = os.path.realpath(cache_root())
    if real != cache and os.path.commonpath([real, cache]) == cache:
        return real
    return None


def command(
    args: Sequence[str], *, user_config: bool = False, cwd: Path | None = None
) -> list[str]:
    """The full argv for a git call in ``cwd``."""
    prefix = [] if user_config else list(hermetic_options())
    if own := _made_by_us(cwd):
        prefix += ["-c", f"safe.directory={own}"]
    return ["git", *prefix, *args]


def environment(
    extra: Mapping[str, str] | None = None, *, user_config: bool = False
) -> dict[str, str]:
    env = _base_env(user_config)
    if extra:
        env.update(extra)
    return env


def run(
    args: Sequence[str],
    *,
    cwd: Path,
    input: bytes | None = None,
    ok: Collection[int] = (0,),
    env: Mapping[str, str] | None = None,
    user_config: bool = False,
) -> Result:
    """Run git; raise :class:`GitError` unless its exit status is in ``ok``."""
    argv = command(args, user_config=user_config, cwd=cwd)
    started = time.perf_counter()
    proc = subprocess.run(
        argv,
        cwd=cwd,
        input=input,
        capture_output=True,
        env=environment(env, user_config=user_config),
        check=False,
    )
    log.debug(
        "git %s (%.3fs, exit %d) in %s",
        " ".join(args),
        time.perf_counter() - started,
        proc.returncode,
        cwd,
    )
    result = Result(tuple(args), proc.returncode, proc.stdout, proc.stderr)
    if proc.returncode not in ok:
        raise GitError(list(args), proc.returncode, result.err, cwd)
    return result


def out(args: Sequence[str], *, cwd: Path, **kwargs: object) -> str:
    """stdout of a successful call, without the final newline."""
    return run(args, cwd=cwd, **kwargs).text.rstrip("\n")  # type: ignore[arg-type]


@functools.cache
def _prctl() -> Callable[..., int] | None:
    if sys.platform != "linux":
        return None
    try:
        import ctypes

        fn: Callable[..., int] = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return fn


def _child_setup() -> None:
    """Runs in the child between fork and exec: its own process group (so we can
    kill git *and* the helpers it starts, e.g. am's mailsplit) and, on Linux,
    death with its parent (``PR_SET_PDEATHSIG``)."""
    os.setpgid(0, 0)
    prctl = _prctl()
    if prctl is not None:
        prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def popen(
    args: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    user_config: bool = False,
    stdin: int | None = subprocess.PIPE,
    stdout: int | None = subprocess.PIPE,
    stderr: int | None = subprocess.PIPE,
    own_group: bool = False,
) -> subprocess.Popen[bytes]:
    """A long-lived git process (``cat-file --batch``, ``am`` fed on stdin).

    With ``own_group`` it leads a process group of its own, which
    :func:`streaming` kills whole on an interrupt.
    """
    log.debug("git %s (streaming) in %s", " ".join(args), cwd)
    _prctl()  # resolved here, never in the forked child
    return subprocess.Popen(  # the preexec only calls setpgid(2)/prctl(2)
        command(args, user_config=user_config, cwd=cwd),
        cwd=cwd,
        env=environment(env, user_config=user_config),
        stdin=stdin,
        stdout=stdout,
        stderr=stderr,
        preexec_fn=_child_setup if own_group else None,
    )


@contextmanager
def _signals_deferred() -> Iterator[list[int]]:
    """Hold SIGINT/SIGTERM while a child starts, so no interrupt can land between
    the fork and the moment we hold the Popen object that can kill it."""
    if threading.current_thread() is not threading.main_thread():
        yield []
        return
    got: list[int] = []

    def hold(signum: int, frame: object) -> None:
        got.append(signum)

    saved = {sig: signal.signal(sig, hold) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield got
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


@contextmanager
def streaming(
    args: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str] | None = None,
    user_config: bool = False,
    stdin: int | None = subprocess.PIPE,
    stdout: int | None = subprocess.PIPE,
    stderr: int | None = subprocess.PIPE,
) -> Iterator[subprocess.Popen[bytes]]:
    """A streamed git process that never outlives an interrupt of ours.

    Whatever ends the ``with`` body early (Ctrl-C, SIGTERM, an error), the
    child is killed and reaped before the exception goes on, so a re-run never
    meets a git still writing the tree.
    """
    proc = None
    try:
        with _signals_deferred() as got:
            proc = popen(
                args,
                cwd=cwd,
                env=env,
                user_config=user_config,
                stdin=stdin,
                stdout=stdout,
                stderr=stderr,
                own_group=True,
            )
            with _RUNNING_LOCK:
                _RUNNING.add(proc)
        if got or _CANCELLED.is_set():
            raise KeyboardInterrupt
        with proc:
            yield proc
        if _CANCELLED.is_set():  # killed by cancel_all() from another thread
            raise KeyboardInterrupt
    except BaseException:
        if proc is not None:
            kill_group(proc)
        raise
    finally:
        if proc is not None:
            with _RUNNING_LOCK:
                _RUNNING.discard(proc)


# Streamed processes run in their own process group, out of reach of the
# terminal's Ctrl-C; when several projects build in threads, the main thread
# stops them all through these (issue 16: projects in parallel).
_RUNNING: set[subprocess.Popen[bytes]] = set()
_RUNNING_LOCK = threading.Lock()
_CANCELLED = threading.Event()


def cancel_all() -> None:
    """Kill every streamed git process; threads still running one get KeyboardInterrupt."""
    _CANCELLED.set()
    with _RUNNING_LOCK:
        running = list(_RUNNING)
    for proc in running:
        kill_group(proc)


def reset_cancel() -> None:
    _CANCELLED.clear()


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Kill a process started with ``own_group`` and everything it started."""
    with suppress(ProcessLookupError, PermissionError):  # already gone
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def user_settings(names: Collection[str]) -> list[tuple[str, str]]:
    """``names``' values in the user's system and global git config, in the order git
    reads them (a later value wins): what a fetch without the user's config keeps."""
    wanted = "^(" + "|".join(re.escape(n.lower()) for n in names) + ")$"
    found: list[tuple[str, str]] = []
    for scope in ("--system", "--global"):
        res = run(
            ["config", scope, "--get-regexp", wanted],
            cwd=Path(tempfile.gettempdir()),
            ok=(0, 1, 128),
            user_config=True,
        )
        for line in res.text.splitlines() if res.returncode == 0 else ():
            name, _, value = line.partition(" ")
            found.append((name, value))
    return found


# the user's variables `git var` answers from (_base_env drops every other GIT_*)
_USER_VARS = ("GIT_EDITOR", "GIT_AUTHOR_NAME", "GIT_AUTHOR_EMAIL", "GIT_AUTHOR_DATE")


def var(name: str, *, cwd: Path) -> str | None:
    """``git var NAME`` as the user's git answers it in ``cwd`` (their config and
    variables: GIT_AUTHOR_IDENT, GIT_EDITOR), or None when git cannot tell."""
    passed = {k: os.environ[k] for k in _USER_VARS if k in os.environ}
    res = run(["var", name], cwd=cwd, ok=(0, 128), env=passed, user_config=True)
    value = res.text.strip()
    return value if res.returncode == 0 and value else None


def zsplit(data: bytes) -> list[str]:
    """Split NUL-terminated output (``-z``) into strings."""
    text = data.decode("utf-8", "surrogateescape")
    parts = text.split("\0")
    if parts and parts[-1] == "":
        parts.pop()
    return parts


def is_commit(repo: Path, rev: str) -> bool:
    """Whether ``rev`` names a commit in ``repo``."""
    res = run(
        ["rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}"],
        cwd=repo,
        ok=(0, 1, 128),
    )
    return res.returncode == 0


def is_ancestor(repo: Path, ancestor: str, descendant: str) -> bool:
    """Whether commit ``ancestor`` is in the history of ``descendant`` (or is it)."""
    res = run(["merge-base", "--is-ancestor", ancestor, descendant], cwd=repo, ok=(0, 1))
    return res.returncode == 0


def resolve(repo: Path, rev: str) -> str | None:
    """The full commit id ``rev`` names in ``repo`` (tags peeled), or None."""
    res = run(
        ["rev-parse", "--verify", "--quiet", "--end-of-options", f"{rev}^{{commit}}"],
        cwd=repo,
        ok=(0, 1, 128),
    )
    return res.text.strip() if res.returncode == 0 else None


def blob_chunks(repo: Path, sha: str, size: int = 1 << 16) -> Generator[bytes, None, None]:
    """A blob's content in pieces of at most ``size`` bytes, never whole in memory.

    Leaving the loop early (or an interrupt) kills the ``cat-file`` behind it.
    """
    with streaming(
        ["cat-file", "blob", sha], cwd=repo, stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    ) as proc:
        assert proc.stdout is not None
        while chunk := proc.stdout.read(size):
            yield chunk
        code = proc.wait()
    if code:
        raise GitError(["cat-file", "blob", sha], code, "", repo)


class CatFile:
    """A long-lived ``git cat-file --batch`` reading many objects with one process."""

    def __init__(self, repo: Path) -> None:
        self._proc = popen(["cat-file", "--batch"], cwd=repo, stderr=subprocess.DEVNULL)

    def read(self, rev: str) -> tuple[str, bytes] | None:
        """(type, content) of an object, or None when it does not exist."""
        assert self._proc.stdin and self._proc.stdout
        self._proc.stdin.write(rev.encode() + b"\n")
        self._proc.stdin.flush()
        header = self._proc.stdout.readline().decode()
        if header.endswith("missing\n") or not header:
            return None
        _, kind, size = header.split()
        data = self._proc.stdout.read(int(size) + 1)[:-1]
        return kind, data

    def close(self) -> None:
        if self._proc.stdin:
            self._proc.stdin.close()
        if self._proc.stdout:
            self._proc.stdout.close()
        self._proc.wait()

    def __enter__(self) -> CatFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
