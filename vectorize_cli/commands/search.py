"""`vectorize search` and `vectorize index`: the Typer commands over vectorize_cli/search/.

They only adapt options; the work is in the library (dataset, exact, ann, query, hits). Heavy imports
(pyarrow, usearch, the model) happen inside the commands, never when the CLI starts.
"""

from pathlib import Path
from typing import Annotated, Optional

import typer

from vectorize_cli.commands.options import (
    INPUT, MODEL, OUTPUT, ForceOpt, OutputOpt, PromptNameOpt, PromptOpt, batch_size_option, choices, deprecated,
    format_option)
from vectorize_cli.errors import UsageError
from vectorize_cli.dataset.format import CONNECTIVITY, EXPANSION_ADD, EXPANSION_SEARCH, GRAPH_DTYPES

SearchFormat, SearchFormatOpt = format_option("SearchFormat", "hits")
GraphDtype = choices("GraphDtype", GRAPH_DTYPES)

DatasetOpt = Annotated[Optional[Path], typer.Option(
    "--dataset", "-D", help="The dataset directory `vectorize embed` wrote (DIR; `vectorize index DIR` adds its "
    "HNSW index for --ann).", show_default=False, rich_help_panel=INPUT)]


def search(
    queries: Annotated[
        Optional[list[str]], typer.Argument(help="Queries; `-` reads stdin, one per line.", show_default=False)
    ] = None,
    dataset: DatasetOpt = None,
    file: Annotated[Optional[Path], typer.Option(
        "--file", "-f", help="Read queries from FILE, one per line.", show_default=False, rich_help_panel=INPUT)
    ] = None,
    k: Annotated[int, typer.Option("-k", min=1, max=100_000, help="Hits per query.")] = 10,
    rescore: Annotated[
        Optional[int], typer.Option("--rescore", min=1, max=10_000, show_default=False,
                                    help="Binary datasets: take N x k candidates by Hamming distance, rescore them "
                                         "against the float query, keep k.")
    ] = None,
    ann: Annotated[
        bool, typer.Option("--ann", help="Search the HNSW index (`vectorize index DIR`), not exactly.")
    ] = False,
    ef: Annotated[int, typer.Option("--ef", min=1, max=1_000_000,
                                    help="--ann: candidates the graph search keeps (more: better recall, slower).")
                  ] = EXPANSION_SEARCH,
    model: Annotated[Optional[str], typer.Option(
        "--model", "-m", show_default=False, rich_help_panel=MODEL,
        help="The query model, if not the one the dataset names (same weights only).")] = None,
    batch_size: batch_size_option("Queries") = 32,
    prompt_name: PromptNameOpt = None,
    prompt: PromptOpt = None,
    output_format: SearchFormatOpt = SearchFormat("table"),
    output: OutputOpt = None,
    force: ForceOpt = False,
    deprecated_index: deprecated(("--index", "-i"), Path) = None,
    explain: Annotated[bool, typer.Option("--explain", rich_help_panel=OUTPUT,
                                          help="Each hit's top token pairs with the query.")] = False,
) -> None:
    """The k nearest rows of an embedded corpus to each query, by cosine: exact by default."""
    from vectorize_cli import inputs, sink
    from vectorize_cli.output import WRITERS, Output
    from vectorize_cli.search import ann as hnsw, exact, hits, query
    from vectorize_cli.dataset.reader import open_dataset

    if dataset is None:
        raise UsageError("give --dataset DIR, a dataset `vectorize embed` wrote")
    if output is not None:
        sink.check_target(output, force)  # before any work
    source = inputs.from_cli(queries or [], file, False)
    ds = open_dataset(dataset)
    texts = query.check_queries(list(source.sentences()))
    n = exact.check_rescore(ds.precision, rescore)
    if ann:
        hnsw.check_ef(ef, k * n)
    graph = hnsw.load_index(ds, ef) if ann else None  # a missing or stale index is refused before any work
    asked = {"prompt_name": prompt_name, "prompt": prompt}  # else the model's query prompt (encode_query's)
    encoder = query.query_encoder(ds, model, batch_size, **asked)  # opened once: the queries, and --explain's pairs
    vectors = query.embed_queries(encoder, texts)
    if graph is not None:
        top = hnsw.ann_search(ds, graph, vectors, k, rescore)
    else:
        top = exact.exact_search(ds, vectors, k, rescore)
    what = ("HNSW" if ann else "exact") + f", {ds.precision}" + (f", rescored {rescore} x k" if rescore else "")
    out = Output(source.single, hits.hits_record, lambda renderer, r: hits.hits_table(renderer, r, what), 4)
    found = hits.results(ds, texts, top)
    if explain:  # search/pairs.py
        from vectorize_cli.search.pairs import hits_pairs_table, with_pairs

        found, plain = with_pairs(found, encoder), out.render
        out = Output(out.single, out.record, lambda renderer, r: hits_pairs_table(renderer, r, plain(renderer, r)), 4)
    with sink.open_sink(output, force) as to:
        WRITERS[output_format.value](found, out, to)


def index(
    directory: Annotated[Path, typer.Argument(help="The dataset directory `vectorize embed` wrote.",
                                              show_default=False)],
    connectivity: Annotated[
        int, typer.Option("--connectivity", min=2, max=256, help="HNSW M: edges per node.")
    ] = CONNECTIVITY,
    expansion_add: Annotated[
        int, typer.Option("--expansion-add", min=1, max=100_000, help="HNSW efConstruction: candidates per insert.")
    ] = EXPANSION_ADD,
    dtype: Annotated[Optional[GraphDtype], typer.Option(
        "--dtype", show_default=False, help="The graph's copy of the vectors: f16 (default), i8 or f32; binary "
        "datasets' graph is over their bits. Only picks candidates: scores come from the dataset's own vectors.")
    ] = None,
) -> None:
    """Build the HNSW index of a dataset (DIR/_index.usearch) for `vectorize search --ann`."""
    import time

    from vectorize_cli.errors import tell
    from vectorize_cli.search import ann as hnsw
    from vectorize_cli.dataset.format import import_pyarrow
    from vectorize_cli.dataset.reader import open_dataset

    import_pyarrow("index", "search")  # missing: named for this command, before anything is read
    ds = open_dataset(directory)
    t0 = time.perf_counter()
    graph = hnsw.graph_dtype(ds, dtype and dtype.value)  # a --dtype a binary dataset cannot take: refused here
    path = hnsw.build_index(ds, connectivity, expansion_add, dtype=graph)
    seconds = time.perf_counter() - t0
    tell("note", f"{path}: {ds.rows} vectors ({ds.precision}, d={ds.d}, graph {graph}) in {seconds:.1f} s")


EPILOG = """
\b
Examples:
  vectorize embed sample_inputs/english.txt -o vectors/             # a dataset to search (see embed --help)
  vectorize search "how do I reset my password" --dataset vectors/ -k 5
  vectorize search - --dataset vectors/ --format jsonl -o hits.jsonl < sample_inputs/questions.txt
  vectorize embed sample_inputs/english.txt -o vectors-binary/ --precision binary
  vectorize search "cheap flights" -D vectors-binary/ --rescore 4    # Hamming, then float rescoring
  vectorize index vectors/ && vectorize search "cheap flights" -D vectors/ --ann --explain
"""
