"""The exception hierarchy; the CLI maps ``exit_code`` once, at its edge."""

from __future__ import annotations

from pathlib import Path


class VerdaError(Exception):
    """Base of every error verda-patch raises on purpose.

    ``where`` is the file (and line) the user has to look at, ``hint`` the next
    step; both are optional so the message stays one line when there is none.
    ``value`` is the input the error is about (a ref, a name): when the user
    typed it on the command line, the CLI names that option instead of the
    file the same value could have come from (see ``blame_option``).
    """

    exit_code = 1

    def __init__(
        self,
        message: str,
        *,
        file: Path | str | None = None,
        line: int | None = None,
        hint: str | None = None,
        value: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.file = file
        self.line = line
        self.hint = hint
        self.value = value
        self.option: str | None = None

    @property
    def where(self) -> str:
        if self.option is not None:
            return self.option
        if self.file is None:
            return ""
        return f"{self.file}:{self.line}" if self.line else str(self.file)

    def blame_option(self, option: str) -> None:
        """The value came from the command line: name ``option``, not a file and line."""
        self.option, self.file, self.line = option, None, None

    def __str__(self) -> str:
        text = f"{self.where}: {self.message}" if self.where else self.message
        if self.hint:
            text += f" ({self.hint})"
        return text


class UserError(VerdaError):
    """Bad usage or bad input: exit 2."""

    exit_code = 2


class ConfigError(UserError):
    """``base-commit`` or ``verda-patch.yaml`` is invalid."""


class PatchError(UserError):
    """A patch or series file cannot be used."""


class UnreadablePatches(PatchError):
    """Several patch files cannot be read; each is named (one bad file never hides another)."""

    def __init__(self, errors: list[PatchError] | tuple[PatchError, ...]) -> None:
        self.errors = tuple(errors)
        first = self.errors[0]
        if len(self.errors) == 1:
            super().__init__(first.message, file=first.file, line=first.line, hint=first.hint)
            return
        super().__init__(
            f"{len(self.errors)} patch files cannot be read",
            hint="fix or remove each of them; nothing was changed",
        )

    def __str__(self) -> str:
        if len(self.errors) == 1:
            return super().__str__()
        # composed when shown, so the CLI can first make each file relative
        parts = "; ".join(str(e) for e in self.errors)
        return f"{self.message}: {parts} ({self.hint})"


class UpstreamError(UserError):
    """An upstream URL, ref or commit that cannot be used."""


class OperationFailed(VerdaError):
    """The input was fine but the operation did not succeed: exit 1."""


class PatchConflict(OperationFailed):
    """A patch does not apply; the work tree is left in ``git am``'s state."""

    def __init__(
        self,
        message: str,
        *,
        patch: str,
        paths: tuple[str, ...] = (),
        git_message: str = "",
        file: Path | str | None = None,
        hint: str | None = None,
    ) -> None:
        super().__init__(message, file=file, hint=hint)
        self.patch = patch
        self.paths = paths
        self.git_message = git_message


class CheckFailed(OperationFailed):
    """``check`` found a problem."""


class DirtyWorkTree(OperationFailed):
    """The work tree holds work that no patch file has yet."""


class NothingToDo(OperationFailed):
    """The command found nothing to act on (e.g. ``new`` with no change)."""


class GitError(OperationFailed):
    """A git process failed where success was expected."""

    def __init__(self, args: list[str], returncode: int, stderr: str, cwd: Path | None) -> None:
        detail = stderr.strip().splitlines()
        last = detail[-1] if detail else "(no output)"
        super().__init__(f"git {' '.join(args[:3])}… failed with exit {returncode}: {last}")
        self.args_ = args
        self.returncode = returncode
        self.stderr = stderr
        self.cwd = cwd
