"""The `vectorize` command line: the app, its commands (vectorize_cli/commands/) and errors -> exit codes.

Exit codes: 0 success, 1 error (unreadable input, out of memory), 2 usage error (bad option or
text), 130 interrupted (Ctrl-C), 141 output pipe closed (`| head`), 70 internal error (a bug).
Every error is one line on stderr; data goes to stdout, messages to stderr. A bare `vectorize` (no
command) prints the help on stderr and exits 2: it is a usage error, and its stdout stays empty.
"""

import os
import sys
from typing import Annotated

import typer

from vectorize_cli import __version__
from vectorize_cli.commands import bench, embed, explain, info, run, search, similarity, verify
from vectorize_cli.commands.command import Command
from vectorize_cli.errors import VectorizeError, tell

EXIT_INTERNAL, EXIT_BROKEN_PIPE = 70, 141  # interrupted: 128 + the signal (_interrupted)
# click's base exception (usage errors, bad parameters), found the same way whether Typer uses
# click itself or, since 0.25, its own copy of it
ClickException = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


def _fail(message: str, code: int) -> None:
    tell("error", message)
    sys.exit(code)


class _PipeClosed(Exception):
    """stdout's reader went away; raised in place of BrokenPipeError, which Typer would turn into exit 1."""


class _Interrupted(Exception):
    """Ctrl-C (or SIGTERM / SIGHUP: sink.Terminated); raised in place of KeyboardInterrupt, which Typer
    would turn into a silent exit 130."""

    def __init__(self, signum: int = 2):
        self.signum = signum


def _interrupted(signum: int) -> None:
    """Exit 128 + signal number, as shells report a process a signal stopped."""
    import signal

    name = signal.Signals(signum).name
    _fail("interrupted" if name == "SIGINT" else f"terminated by {name}", 128 + signum)


class _Group(typer.core.TyperGroup):
    """Turns every failure into one line on stderr and a documented exit code."""

    def make_context(self, info_name, args, parent=None, **extra):
        try:  # parsing the command line: a signal here would be Typer's silent exit 130 too
            return super().make_context(info_name, args, parent=parent, **extra)
        except KeyboardInterrupt as e:
            raise _Interrupted(getattr(e, "signum", 2)) from None

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            raise _PipeClosed() from None
        except KeyboardInterrupt as e:
            raise _Interrupted(getattr(e, "signum", 2)) from None

    def main(self, args=None, prog_name=None, **extra):
        if not (sys.argv[1:] if args is None else args):  # bare `vectorize`: the help, as a usage error
            ctx = typer.Context(self, info_name=prog_name or "vectorize", **self.context_settings)
            sys.stderr.write(self.get_help(ctx) + "\n")
            sys.exit(2)
        try:
            rv = super().main(args=args, prog_name=prog_name or "vectorize", standalone_mode=False, **extra)
            if rv == 130:  # Typer's return for a KeyboardInterrupt it met itself (closing the context); no
                _interrupted(2)  # command returns a number
            sys.exit(rv or 0)
        except VectorizeError as e:
            _fail(str(e), e.exit_code)
        except typer.Abort as e:  # click's: a signal while the options were read
            _interrupted(getattr(e.__cause__, "signum", 2))
        except ClickException as e:  # click's usage errors: bad option, missing argument, ...
            _fail(e.format_message(), e.exit_code)
        except (KeyboardInterrupt, _Interrupted) as e:
            _interrupted(getattr(e, "signum", 2))
        except (_PipeClosed, BrokenPipeError):
            # The reader went away (`| head -1`): stop quietly, and let the interpreter's final
            # flush go to /dev/null rather than complain about the closed pipe.
            from vectorize_cli.sink import discard_stdout

            discard_stdout()
            sys.exit(EXIT_BROKEN_PIPE)
        except OSError as e:  # I/O outside the readers and writers, e.g. `vectorize example > /dev/full`
            from vectorize_cli.sink import discard_stdout

            discard_stdout()
            _fail(f"{e.strerror or e}" + (f": {e.filename}" if e.filename else ""), 1)
        except MemoryError:
            _fail("out of memory; try a shorter text, a smaller --dim, or -a flash", 1)
        except Exception as e:  # a bug: say so in one line; VECTORIZE_DEBUG=1 shows the traceback
            if os.environ.get("VECTORIZE_DEBUG"):
                raise
            _fail(f"internal error ({type(e).__name__}: {e}); rerun with VECTORIZE_DEBUG=1 and report it", EXIT_INTERNAL)


app = typer.Typer(
    cls=_Group,
    name="vectorize",
    help="See what a transformer does to a sentence: tokens, embeddings, positions, attention, stage by stage.",
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        print(f"vectorize {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", "-V", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    pass


for command, epilog in ((run.run, run.EPILOG), (similarity.similarity, similarity.EPILOG),
                        (explain.explain, explain.EPILOG), (info.example, info.EPILOG), (info.variants, None),
                        (bench.bench, bench.EPILOG), (embed.embed, embed.EPILOG), (search.search, search.EPILOG),
                        (search.index, None), (verify.verify, verify.EPILOG)):
    app.command(cls=Command, epilog=epilog)(command)


def run_app() -> None:
    """The `vectorize` command (pyproject's entry point is vectorize_cli.__main__:main, which installs the
    signal handlers before this module's imports)."""
    from vectorize_cli.sink import install_signal_handlers

    install_signal_handlers()
    app()
