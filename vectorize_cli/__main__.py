"""`vectorize` and `python -m vectorize_cli`: the signal handlers first, before any heavy import, so
that Ctrl-C (or SIGTERM, SIGHUP) during start-up is the one line and exit 130 (143, 129), never a
traceback; a signal that arrives while Typer builds the command is caught here as well."""

import sys


def main() -> None:
    try:
        from vectorize_cli.sink import install_signal_handlers

        install_signal_handlers()
        from vectorize_cli.cli import main as cli_main

        cli_main()
    except KeyboardInterrupt as e:  # before cli.py's own handling began (imports, building the command)
        from vectorize_cli.errors import tell

        signum = getattr(e, "signum", 2)
        tell("error", "interrupted" if signum == 2 else f"terminated by {e}")
        sys.exit(128 + signum)


if __name__ == "__main__":
    main()
