"""The entry point of ``verda-patch`` and ``python -m verda_patch``.

Ctrl-C (or a CI job's SIGTERM) at any moment exits 130 with one line, never a
traceback: the handlers go in here, before click, rich or any command module
is imported, so a signal landing during start-up unwinds like one landing
mid-command. They are set through ``_signal``, the C module under ``signal``:
importing ``signal`` itself builds its enums first (milliseconds in which a
Ctrl-C would still be Python's own traceback).
"""

import sys

try:
    import _signal as signal  # type: ignore[import-not-found]  # CPython: no import-time work
except ImportError:  # pragma: no cover - other Pythons
    import signal

EXIT_INTERRUPTED = 130


def _interrupted(signum: int, frame: object) -> None:
    # SIGTERM (a CI job cancelled) unwinds like Ctrl-C, so state files and
    # temp files are handled by the same code paths
    raise KeyboardInterrupt


def _unraisable(args: "sys.UnraisableHookArgs") -> None:
    if isinstance(args.exc_value, KeyboardInterrupt):
        # the signal landed in a callback that cannot raise (an import lock's
        # weakref callback, a finalizer): Python would print "Exception ignored"
        # and carry on. Deliver it again a moment later, to the code that runs
        # then (a signal raised right here would land in this hook again).
        signal.setitimer(signal.ITIMER_REAL, 0.005)
        return
    sys.__unraisablehook__(args)


def main() -> None:
    signal.signal(signal.SIGINT, _interrupted)
    signal.signal(signal.SIGTERM, _interrupted)
    signal.signal(signal.SIGALRM, _interrupted)  # an interrupt delivered again, see below
    sys.unraisablehook = _unraisable
    try:
        from verda_patch.cli import cli

        cli(prog_name="verda-patch")
    except KeyboardInterrupt:
        # before a command runs (imports, parsing); a running one reports it itself
        sys.stderr.write("verda-patch: interrupted\n")
        sys.exit(EXIT_INTERRUPTED)


if __name__ == "__main__":
    main()
