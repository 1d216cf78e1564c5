"""What the commands that run a pretrained model share (`run --model`, `similarity`), besides the encoder
(encoder.py) they open: the texts checked, truncation reported, -a read as the one variant a model takes."""

from collections.abc import Iterable

from vectorize_cli.errors import UsageError, tell


def nonempty(texts: Iterable[str]) -> Iterable[str]:
    """The texts, each checked: a blank TEXT argument is a usage error (stream lines are never blank)."""
    for t in texts:
        if not t.strip():
            raise UsageError("the text is empty")
        yield t


def warn_truncated(max_length: int, truncated: list[int], single: bool) -> None:
    if truncated:
        which = "the text is" if single else f"{len(truncated)} input(s) are"
        where = "" if single else " (input " + ", ".join(str(i + 1) for i in truncated[:10]) + \
            (", ..." if len(truncated) > 10 else "") + ")"
        tell("warning", f"{which} longer than the model's {max_length} tokens{where}; truncated to the first "
                        f"{max_length}")


def one_attention(names: list[str]) -> str:
    """-a, given once or repeated, as the one variant a model's run takes."""
    if len(names) == 1:
        return names[0]
    from vectorize_cli.pipelines.bert import MODEL_VARIANTS

    bad = [n for n in names if n not in MODEL_VARIANTS]
    why = f"-a {bad[0]} does not exist in a pretrained BERT" if bad else "give one -a with --model"
    raise UsageError(f"{why}; its attention is {' or '.join(MODEL_VARIANTS)} (the same function)")
