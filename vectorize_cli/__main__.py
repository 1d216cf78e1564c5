"""`vectorize` and `python -m vectorize_cli`: the signal handlers first, before any heavy import, so
that Ctrl-C (or SIGTERM, SIGHUP) during start-up is the one line and exit 130, never a traceback."""


def main() -> None:
    from vectorize_cli.sink import install_signal_handlers

    install_signal_handlers()
    from vectorize_cli.cli import main as cli_main

    cli_main()


if __name__ == "__main__":
    main()
