"""`vectorize` and `python -m vectorize_cli`: the signal handlers first, before any heavy import, so
that Ctrl-C (or SIGTERM, SIGHUP) during start-up is the one line and exit 130 (143, 129), never a
traceback; a signal that arrives while Typer builds the command is caught here as well."""

import sys


def main() -> None:
    try:
        from vectorize_cli.sink import install_signal_handlers

        install_signal_handlers()
        from vectorize_cli.cli import run_app

        run_app()
    except KeyboardInterrupt as e:  # before cli.py's own handling began (imports, building the command)
        from vectorize_cli.errors import tell

        signum = getattr(e, "signum", 2)
        tell("error", "interrupted" if signum == 2 else f"terminated by {e}")
        sys.exit(128 + signum)
    finally:  # the exit code is decided: a signal during the interpreter's shutdown (which puts back the
        _ignore_signals()  # default handlers, whose action is to die by the signal) changes nothing now


def _ignore_signals() -> None:
    import signal

    from vectorize_cli.sink import SIGNALS

    for s in SIGNALS:
        signal.signal(s, signal.SIG_IGN)


if __name__ == "__main__":
    main()
