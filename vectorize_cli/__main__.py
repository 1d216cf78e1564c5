"""`vectorize` and `python -m vectorize_cli`: the signal handlers first, before any heavy import, so
that Ctrl-C (or SIGTERM, SIGHUP) during start-up is the one line and exit 130 (143, 129), never a
traceback; a signal that arrives while Typer builds the command is caught here as well. The CLI's modules are
imported with the collector paused and then frozen (collector.py); the command runs with it on.

After the command, every object still alive is frozen (gc.freeze): the interpreter's shutdown then collects
nothing of them, where its last collections would otherwise walk numba's and the model's objects and run the
finalizers of those in cycles (about 0.2 s of CPU once numba is loaded: benchmarks/README.md, "Start-up and
shutdown of the model path"). Every output is written and closed by then (sink.py); what Python skips is
only what it never promises at exit (finalizers of objects in cycles); atexit hooks, weakref.finalize's and
threads' joins run as before."""

import gc
import sys


def main() -> None:
    try:
        from vectorize_cli.sink import install_signal_handlers

        install_signal_handlers()
        from vectorize_cli.collector import paused

        with paused():  # the CLI's modules live as long as the process: made without the collector walking them
            from vectorize_cli.cli import run_app

        run_app()
    except KeyboardInterrupt as e:  # before cli.py's own handling began (imports, building the command)
        from vectorize_cli.errors import tell

        signum = getattr(e, "signum", 2)
        tell("error", "interrupted" if signum == 2 else f"terminated by {e}")
        sys.exit(128 + signum)
    finally:  # the exit code is decided: a signal during the interpreter's shutdown (which puts back the
        _ignore_signals()  # default handlers, whose action is to die by the signal) changes nothing now
        gc.freeze()  # and nothing alive now needs collecting before the process ends (the docstring)


def _ignore_signals() -> None:
    import signal

    from vectorize_cli.sink import SIGNALS

    for s in SIGNALS:
        signal.signal(s, signal.SIG_IGN)


if __name__ == "__main__":
    main()
