"""The `vectorize` command line: options, validation and errors -> exit codes.

Exit codes: 0 success, 1 error (unreadable input, out of memory), 2 usage error (bad option or
text), 130 interrupted (Ctrl-C), 141 output pipe closed (`| head`), 70 internal error (a bug).
Every error is one line on stderr; data goes to stdout, messages to stderr.
"""

import enum
import os
import sys
from functools import partial
from pathlib import Path
from typing import Annotated, Optional

import typer

from vectorize_cli import __version__
from vectorize_cli.attention import ATTENTION
from vectorize_cli.config import BACKENDS, DEVICES, DTYPES, Config
from vectorize_cli.errors import UsageError, VectorizeError, tell
from vectorize_cli.pooling import POOLING
from vectorize_cli.positional import POSITIONAL
from vectorize_cli.tokens import TOKENIZERS
from vectorize_cli.embedding import EMBEDDINGS

EXIT_INTERNAL, EXIT_INTERRUPTED, EXIT_BROKEN_PIPE = 70, 130, 141
# click's base exception (usage errors, bad parameters), found the same way whether Typer uses
# click itself or, since 0.25, its own copy of it
ClickException = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")


def _choices(name: str, names) -> type[enum.Enum]:
    """A str Enum of a registry's names: Typer shows them in --help and rejects others (exit 2)."""
    return enum.Enum(name, [(n, n) for n in names], type=str)


Variant = _choices("Variant", ATTENTION)
Positional = _choices("Positional", POSITIONAL)
Tokenizer = _choices("Tokenizer", TOKENIZERS)
Embedding = _choices("Embedding", EMBEDDINGS)
Pool = _choices("Pool", POOLING)
Format = _choices("Format", ["table", "json", "jsonl"])
VectorFormat = _choices("VectorFormat", ["table", "json", "jsonl", "npy"])  # npy: --model's sentence vectors
BackendName = _choices("BackendName", BACKENDS)
Device = _choices("Device", DEVICES)
Dtype = _choices("Dtype", DTYPES)
Omit = _choices("Omit", ["embedding", "positional", "encoded", "weights", "params", "output"])  # big fields


def _fail(message: str, code: int) -> None:
    tell("error", message)
    sys.exit(code)


class _PipeClosed(Exception):
    """stdout's reader went away; raised in place of BrokenPipeError, which Typer would turn into exit 1."""


class _Interrupted(Exception):
    """Ctrl-C; raised in place of KeyboardInterrupt, which Typer would turn into a silent exit 130."""


class _Group(typer.core.TyperGroup):
    """Turns every failure into one line on stderr and a documented exit code."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            raise _PipeClosed() from None
        except KeyboardInterrupt:
            raise _Interrupted() from None

    def main(self, args=None, prog_name=None, **extra):
        try:
            rv = super().main(args=args, prog_name=prog_name or "vectorize", standalone_mode=False, **extra)
            sys.exit(rv or 0)
        except VectorizeError as e:
            _fail(str(e), e.exit_code)
        except typer.Abort:
            _fail("interrupted", EXIT_INTERRUPTED)
        except ClickException as e:  # click's usage errors: bad option, missing argument, ...
            _fail(e.format_message(), e.exit_code)
        except (KeyboardInterrupt, _Interrupted):
            _fail("interrupted", EXIT_INTERRUPTED)
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
    no_args_is_help=True,
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


def _write(data: bytes) -> None:
    from vectorize_cli.sink import stdout, write_record

    write_record(stdout(), data)


def _console():
    """stdout as rich sees it; 120 columns when it is not a terminal (a file or a pipe has no width)."""
    from vectorize_cli.output import console_for

    from vectorize_cli.sink import stdout

    return console_for(stdout())


MODEL_HELP = "A model folder (Hugging Face layout: config.json, model.safetensors, tokenizer.json) or `minilm`."


RUN_EXAMPLES = """
\b
Examples:
  vectorize run "My deskmate and I made an appointment to play games at his house tomorrow."
  vectorize run "The cat sat." -a scaled-dot -a multi-head -a flash      # compare variants
  vectorize run "The cat sat." --format json | jq '.attention[0].sentence_vector'
  cat sentences.txt | vectorize run - --format jsonl                     # one record per line
  vectorize run "我和同桌约好明天在他家玩游戏" --dim 12 --heads 3 --causal
  vectorize run "The cat sat." --model minilm --layer 6 --head 3   # a pretrained model
  vectorize run - --model minilm --format npy < sentences.txt > vectors.npy
"""


@app.command(epilog=RUN_EXAMPLES)
def run(
    ctx: typer.Context,
    text: Annotated[
        Optional[str], typer.Argument(help="The sentence; `-` reads stdin, one sentence per line.", show_default=False)
    ] = None,
    file: Annotated[
        Optional[Path], typer.Option("--file", "-f", help="Read sentences from FILE, one per line.", show_default=False)
    ] = None,
    whole: Annotated[bool, typer.Option("--whole", help="Treat all of stdin / FILE as one text.")] = False,
    attention: Annotated[
        list[Variant],
        typer.Option("--attention", "-a", help="Attention variant; repeat to compare variants side by side."),
    ] = [Variant("multi-head")],
    dim: Annotated[int, typer.Option("--dim", "-d", min=1, help="Model width d of every token vector.")] = 8,
    heads: Annotated[int, typer.Option("--heads", "-H", min=1, help="Heads of multi-head / flash.")] = 2,
    head_dim: Annotated[
        Optional[int],
        typer.Option("--head-dim", min=1, help="Size of each head [default: dim / heads].", show_default=False),
    ] = None,
    positional: Annotated[Positional, typer.Option("--positional", "-p", help="Positional encoding.")] = Positional(
        "sinusoidal"
    ),
    tokenizer: Annotated[Tokenizer, typer.Option("--tokenizer", "-t", help="How text is split into tokens.")] = Tokenizer(
        "word"
    ),
    embedding: Annotated[Embedding, typer.Option("--embedding", "-e", help="Token -> vector.")] = Embedding("hash"),
    seed: Annotated[int, typer.Option("--seed", "-s", help="Seeds embeddings and all parameters.")] = 0,
    causal: Annotated[bool, typer.Option("--causal", help="Mask future tokens (key after query).")] = False,
    concat: Annotated[
        bool, typer.Option("--concat", help="multi-head / flash: concatenate heads, no output projection W_o.")
    ] = False,
    pool: Annotated[Pool, typer.Option("--pool", help="Token outputs -> sentence vector.")] = Pool("mean"),
    precision: Annotated[int, typer.Option("--precision", min=0, max=12, help="Decimals shown in tables.")] = 3,
    output_format: Annotated[
        VectorFormat, typer.Option("--format", "-F", help="table, json, jsonl, or npy (--model's vectors, N x d).")
    ] = VectorFormat("table"),
    output: Annotated[
        Optional[Path],
        typer.Option("--output", "-o", help="Write to FILE atomically instead of stdout.", show_default=False),
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="Let --output replace an existing file.")] = False,
    omit: Annotated[
        list[Omit],
        typer.Option("--omit", help="Leave a big field out of the JSON (repeat); the record lists what it omits."),
    ] = [],
    backend: Annotated[
        BackendName,
        typer.Option("--backend", "-b", help="numpy (CPU, float32) or torch (fused flash kernel, CUDA); --model too."),
    ] = BackendName("numpy"),
    device: Annotated[Device, typer.Option("--device", help="auto: cuda when torch sees a GPU.")] = Device("auto"),
    dtype: Annotated[Dtype, typer.Option("--dtype", help="float16 / bfloat16 need --backend torch.")] = Dtype("float32"),
    strict: Annotated[
        bool, typer.Option("--strict", help="Fail when torch's flash kernel cannot run, with torch's reasons.")
    ] = False,
    weights: Annotated[
        bool, typer.Option("--weights", help="flash: also compute the weights by the explicit path.")
    ] = False,
    block_size: Annotated[int, typer.Option("--block-size", min=1, help="flash on numpy: tile size.")] = 256,
    max_memory: Annotated[
        str, typer.Option("--max-memory", help="Refuse runs whose arrays would exceed this (e.g. 8GiB).")
    ] = "4GiB",
    model: Annotated[Optional[str], typer.Option("--model", "-m", help=MODEL_HELP)] = None,
    layer: Annotated[
        Optional[int], typer.Option("--layer", help="--model: the layer whose attention is shown [default: 1].",
                                    show_default=False)
    ] = None,
    head: Annotated[
        Optional[int], typer.Option("--head", help="--model: show only this head [default: all].", show_default=False)
    ] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="--model, npy: sentences per batch.")] = 32,
) -> None:
    """Run a sentence through the pipeline and show every stage.

    TEXT is the sentence; `-` reads stdin, one sentence per line (or all of it with --whole).
    """
    from vectorize_cli import inputs, progress, sink
    from vectorize_cli.memory import parse_size
    from vectorize_cli.model.options import check_options
    from vectorize_cli.output import WRITERS, Output
    from vectorize_cli.pipeline import check as check_config, run as run_pipeline
    from vectorize_cli.render import Renderer
    from vectorize_cli.serialize import record

    check_options(ctx, model)
    source = inputs.from_cli([] if text is None else [text], file, whole)
    # a bar for batches, on a terminal's stderr, unless the data itself goes to that terminal
    show_bar = source.stream is not None and not whole and progress.wanted() and (output or not sink.stdout().isatty())
    if model is not None:  # a pretrained model: vectorize_cli/model/
        from vectorize_cli.model import cli as model_cli

        def write(out, advance):
            model_cli.run(source.sentences(advance), source.single, model, [a.value for a in attention], backend.value,
                          layer, head, output_format.value, precision, batch_size, out)
    else:
        if output_format.value == "npy":
            raise UsageError("--format npy writes a model's sentence vectors: give --model")
        config = Config(
            tokenizer=tokenizer.value,
            embedding=embedding.value,
            positional=positional.value,
            dim=dim,
            heads=heads,
            head_dim=head_dim,
            attention=tuple(dict.fromkeys(a.value for a in attention)),  # each variant once, in order
            causal=causal,
            concat=concat,
            pool=pool.value,
            seed=seed,
            block_size=block_size,
            backend=backend.value,
            device=device.value,
            dtype=dtype.value,
            strict=strict,
            weights=weights,
            max_memory=parse_size(max_memory),
        )
        check_config(config)  # before reading any input
        to_record = partial(record, omit=tuple(dict.fromkeys(o.value for o in omit)))
        how = Output(source.single, to_record, Renderer.result, precision, config.max_memory)

        def write(out, advance):
            WRITERS[output_format.value]((run_pipeline(t, config) for t in source.sentences(advance)), how, out)

    with sink.open_sink(output, force) as out, progress.bar(progress.size_of(source.stream) if show_bar else None,
                                                           show_bar) as advance:
        write(out, advance)


@app.command(epilog="""
\b
Examples:
  vectorize similarity "A man is eating food." "A man eats." "The sky is blue."
  vectorize similarity - --format json < sentences.txt
""")
def similarity(
    texts: Annotated[
        Optional[list[str]], typer.Argument(help="Two or more texts; `-` reads stdin, one per line.", show_default=False)
    ] = None,
    file: Annotated[
        Optional[Path], typer.Option("--file", "-f", help="Read texts from FILE, one per line.", show_default=False)
    ] = None,
    model: Annotated[str, typer.Option("--model", "-m", help=MODEL_HELP)] = "minilm",
    attention: Annotated[
        list[Variant], typer.Option("--attention", "-a", help="multi-head or flash: the same vectors.")
    ] = [Variant("multi-head")],
    backend: Annotated[
        BackendName, typer.Option("--backend", "-b", help="numpy, or torch if installed.")
    ] = BackendName("numpy"),
    batch_size: Annotated[int, typer.Option("--batch-size", min=1, help="Sentences per batch.")] = 32,
    precision: Annotated[int, typer.Option("--precision", min=0, max=12, help="Decimals shown in tables.")] = 3,
    output_format: Annotated[
        VectorFormat, typer.Option("--format", "-F", help="table, json, jsonl (one line), npy (N x N).")
    ] = VectorFormat("table"),
) -> None:
    """Cosine similarity of every pair of texts, by a pretrained model's sentence vectors."""
    from vectorize_cli import inputs, sink
    from vectorize_cli.model import cli as model_cli

    source = inputs.from_cli(texts or [], file, False)
    model_cli.similarity(source.sentences(), model, [a.value for a in attention], backend.value, output_format.value,
                         precision, batch_size, sink.stdout())


@app.command()
def example(
    seed: Annotated[int, typer.Option("--seed", "-s", help="Seeds the real attention's parameters.")] = 0,
    precision: Annotated[int, typer.Option("--precision", min=0, max=12, help="Most decimals shown.")] = 4,
    output_format: Annotated[Format, typer.Option("--format", "-F", help="table, json or jsonl.")] = Format("table"),
) -> None:
    """The article's worked example, number for number, then what real attention computes."""
    from vectorize_cli import example as article
    from vectorize_cli.render import Renderer
    from vectorize_cli.serialize import dumps

    ex = article.build(seed)
    if output_format.value == "table":
        console = _console()
        console.print(article.render(ex, Renderer(console, precision, trim=True)))
    else:
        _write(dumps(article.record(ex), pretty=output_format.value == "json"))


@app.command()
def variants(
    output_format: Annotated[Format, typer.Option("--format", "-F", help="table, json or jsonl.")] = Format("table"),
) -> None:
    """List the attention variants: what each computes and where it comes from."""
    from vectorize_cli.serialize import dumps

    rows = [
        {"variant": name, "summary": v.summary, "reference": v.reference, "weights": v.materialises_weights}
        for name, v in ATTENTION.items()
    ]
    if output_format.value != "table":
        _write(dumps(rows, pretty=output_format.value == "json"))
        return
    from vectorize_cli.render import new_table, titled

    table = new_table()
    for col in ("variant", "what it computes", "reference", "weights"):
        table.add_column(col)
    for r in rows:
        table.add_row(r["variant"], r["summary"], r["reference"], "yes" if r["weights"] else "never held")
    _console().print(titled("Attention variants (-a NAME)", table))


@app.command(epilog="""
\b
Examples:
  vectorize bench                                              # multi-head vs flash, numpy, T = 128 ... 4096
  vectorize bench -a multi-head -a flash -b numpy -b torch -T 1024 -T 4096 -T 16384 --plot bench.png
  vectorize bench --format json | jq '.results[] | {variant, T, median_s}'
""")
def bench(
    attention: Annotated[list[Variant], typer.Option("--attention", "-a", help="Variants to time (repeat).")] = [
        Variant("multi-head"), Variant("flash")],
    lengths: Annotated[list[int], typer.Option("--length", "-T", min=1, help="Sequence lengths (repeat).")] = [
        128, 512, 1024, 2048, 4096],
    backends: Annotated[list[BackendName], typer.Option("--backend", "-b", help="Backends (repeat).")] = [
        BackendName("numpy")],
    devices: Annotated[list[Device], typer.Option("--device", help="Devices (repeat; cuda needs torch).")] = [
        Device("cpu")],
    dim: Annotated[int, typer.Option("--dim", "-d", min=1, help="Model width.")] = 512,
    heads: Annotated[int, typer.Option("--heads", "-H", min=1, help="Heads.")] = 8,
    dtype: Annotated[Dtype, typer.Option("--dtype", help="dtype for the torch backend.")] = Dtype("float32"),
    causal: Annotated[bool, typer.Option("--causal", help="Causal attention.")] = False,
    repeat: Annotated[int, typer.Option("--repeat", "-r", min=1, help="Timed runs per case.")] = 5,
    warmup: Annotated[int, typer.Option("--warmup", min=0, help="Untimed runs first.")] = 1,
    max_memory: Annotated[str, typer.Option("--max-memory", help="Skip cases whose arrays exceed this.")] = "4GiB",
    plot: Annotated[
        Optional[Path], typer.Option("--plot", help="Also write the plot to FILE (.png, .svg, .pdf).", show_default=False)
    ] = None,
    output_format: Annotated[Format, typer.Option("--format", "-F", help="table, json or jsonl.")] = Format("table"),
) -> None:
    """Time and memory of the variants against sequence length: explicit grows as T², flash as T."""
    from vectorize_cli import bench as b
    from vectorize_cli import plot as plots
    from vectorize_cli import progress
    from vectorize_cli.memory import parse_size
    from vectorize_cli.serialize import dumps

    base = Config(dim=dim, heads=heads, causal=causal, dtype=dtype.value, max_memory=parse_size(max_memory))
    if plot is not None:
        plots.check_file(str(plot))  # before the cases run, not after
    backend_names, device_names = [x.value for x in dict.fromkeys(backends)], [x.value for x in dict.fromkeys(devices)]
    todo = b.cases([a.value for a in dict.fromkeys(attention)], backend_names, device_names, sorted(set(lengths)))
    if not todo:
        raise UsageError("--device cuda needs -b torch (numpy runs on the CPU only)")
    if "cuda" in device_names and "torch" in backend_names:
        from vectorize_cli.attention.backends import resolve_device

        resolve_device("cuda", "torch")  # no GPU: an error before any case runs, as with `run`
    rows = []
    with progress.steps(len(todo), progress.wanted()) as step:
        for case in todo:
            step(f"{case.variant} {case.backend} {case.device} T={case.T}")
            rows.append(b.measure(case, base, repeat, warmup).to_dict())
    if output_format.value != "table":
        shared = {k: v for k, v in base.to_dict().items() if k not in ("attention", "backend", "device")}  # per row
        record = {"kind": "bench", "machine": b.machine(), "config": shared, "repeat": repeat,
                  "warmup": warmup, "results": rows}
        _write(dumps(record, pretty=output_format.value == "json"))
    else:
        console = _console()
        console.print(b.table(rows, b.machine()))
        chart = plots.terminal(rows, console.width, color=console.is_terminal and not console.no_color)
        if chart is None:
            console.print("[dim]pip install 'vectorize-cli[bench]' for plots[/dim]")
        else:
            sys.stdout.write(chart + "\n")
    if plot is not None:  # the results are out first: a plot that fails to write does not lose them
        plots.to_file(rows, str(plot))
        tell("note", f"plot written to {plot}")


from vectorize_cli.commands.search import SEARCH_EPILOG, index, search  # noqa: E402

app.command(epilog=SEARCH_EPILOG)(search)
app.command()(index)


def main() -> None:
    from vectorize_cli.sink import install_sigint_handler

    install_sigint_handler()
    app()
