"""The model's own tokenizer, from its tokenizer.json (Hugging Face `tokenizers`): normalisation
(lower-casing, accents, CJK characters split) as the file says, WordPiece, then [CLS] ... [SEP].

tokenizer.json may carry padding and truncation settings of its own (all-MiniLM-L6-v2's pads
everything to 128): both are replaced here. Inputs longer than the model reads are cut to
max_length tokens ([SEP] kept last) and reported as truncated, never an index error.

Truncation happens while tokenizing: a long text is tokenized from its first CHARS_PER_TOKEN *
max_length characters, and the cut is kept only when the tokens kept end well before it
(MARGIN characters: a word cut in two is never among them); otherwise the cut grows. A 50 MB line
costs what its first few thousand characters cost, with the tokens of the whole text. Only a
text with fewer than max_length tokens in its first MAX_CHARS characters (262,144) differs: it
is read that far.

tokenizer.json is untrusted (see safe_read.py). The Rust tokenizer can panic on it (a regex that
gives up): pyo3's PanicException is a BaseException, caught here as a VectorizeError, with Rust's
panic report kept off stderr.
"""

from contextlib import contextmanager
from dataclasses import dataclass
from itertools import chain
from pathlib import Path

import numpy as np

from vectorize_cli.errors import UsageError, VectorizeError, kept_off_stderr
from vectorize_cli.safe_read import read_bytes

TOKENIZER_CAP = 256 << 20  # the largest multilingual tokenizer.json files are tens of MiB
CHARS_PER_TOKEN = 16  # the first cut: max_length tokens rarely need more characters than this many each
MARGIN = 256  # characters between the last token kept and the cut (WordPiece words are at most 100)
MAX_CHARS = 1 << 18  # the most characters of one text ever tokenized (a long word costs the Rust side
# time that grows faster than its length): a text with fewer than max_length tokens in its first
# MAX_CHARS characters (one endless word) is read that far, and reported as truncated


@dataclass(frozen=True)
class Encoding:
    ids: np.ndarray  # (T,) int64 rows of the word-embedding table
    type_ids: np.ndarray  # (T,) int64 token types (0: one sentence)
    truncated: bool  # the input was longer than max_length tokens
    raw: object  # the tokenizers library's encoding, whose strings are read only when asked for; None: not kept

    @property
    def tokens(self) -> list[str]:
        """T WordPiece tokens, [CLS] first, [SEP] last (a list of strings per text costs a corpus 10% of its
        tokenizing, so only a trace asks)."""
        if self.raw is None:
            raise ValueError("tokenized without its token strings: WordPiece.encode(texts, tokens=True) keeps them")
        return self.raw.tokens


@contextmanager
def _rust(path: Path, what: str):  # what: the error's start, "{path}" for the file
    """Calls into the Rust tokenizer: a panic (or any error) is a VectorizeError naming the file;
    Rust's own panic report (with RUST_BACKTRACE, a backtrace) goes to a scratch file, not stderr."""
    try:
        with kept_off_stderr():
            yield
    except (KeyboardInterrupt, SystemExit, GeneratorExit, VectorizeError, MemoryError):
        raise
    except BaseException as e:  # pyo3_runtime.PanicException is a BaseException; tokenizers raises Exception
        why = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise VectorizeError(f"{what.format(path=path)}: {why[:300]}") from None


class WordPiece:
    def __init__(self, path: Path, max_length: int, folder: Path | None = None):
        try:
            from tokenizers import Tokenizer
        except ImportError:
            raise VectorizeError("--model needs tokenizers: pip install 'vectorize-cli[model]'") from None
        try:
            raw = read_bytes(folder or path.parent, path, TOKENIZER_CAP)
        except FileNotFoundError:
            raise VectorizeError(f"missing {path}") from None
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise VectorizeError(f"cannot read {path}: not UTF-8 ({e})") from None
        with _rust(path, "cannot read {path}"):
            self.tok = Tokenizer.from_str(text)
            self.tok.no_padding()
            self.tok.enable_truncation(max_length)
        self.path = path
        self.max_length = max_length

    def vocab_ids(self) -> list[int]:
        """Every id the tokenizer can give (its vocabulary and added tokens)."""
        with _rust(self.path, "cannot read {path}"):
            return list(self.tok.get_vocab(with_added_tokens=True).values())

    def raw(self, texts: list[str], offsets: bool = True) -> list:
        """The tokenizers library's encodings, as they come; without offsets (encode_batch_fast: a third less
        time) their ids, type ids and overflow are the same, but not their offsets nor their token strings."""
        with _rust(self.path, "{path}: the tokenizer failed on the text"):
            return self.tok.encode_batch(texts) if offsets else self.tok.encode_batch_fast(texts)

    def _cut(self, texts: list[str], tokens: bool = True) -> list[tuple[object, bool]]:
        """Each text's (encoding, truncated), truncated while tokenizing (see the module docstring). The texts
        cut need offsets (where the kept tokens end); the whole ones only where their tokens are wanted."""
        encs: list = [None] * len(texts)
        todo = list(range(len(texts)))
        cut = first = CHARS_PER_TOKEN * self.max_length + MARGIN
        while todo:
            short = [i for i in todo if len(texts[i]) <= cut]  # whole: no cut to check
            long = [i for i in todo if len(texts[i]) > cut]
            was_cut = set(long)
            whole = self.raw([texts[i] for i in short], offsets=tokens) if short else []
            parts = self.raw([texts[i][:cut] for i in long]) if long else []
            for i, e in zip(short + long, whole + parts):
                # cut by truncation only where max_length tokens were kept (overflowing is a list to build)
                encs[i] = (e, (len(e) >= self.max_length and bool(e.overflowing)) or i in was_cut)
            # a cut holds when more tokens were cut away and the tokens kept end MARGIN characters before
            # it; past MAX_CHARS, the first MAX_CHARS characters are all that is read
            todo = [i for i in long if cut < max(MAX_CHARS, first) and not (
                encs[i][0].overflowing and max(end for _, end in encs[i][0].offsets) <= cut - MARGIN)]
            cut = min(cut * 4, max(MAX_CHARS, first))
        return encs

    def encode(self, texts: list[str], tokens: bool = True) -> list[Encoding]:
        """Every text at once (the Rust side uses all cores); tokens=False: ids only, the token strings not
        kept (a corpus's vectors need none), in a third less time."""
        encs = self._cut(texts, tokens)
        n = np.fromiter((len(e) for e, _ in encs), dtype=np.int64, count=len(encs))  # tokens per text
        if not n.all():
            i = int(np.argmin(n))
            which = "the text" if len(texts) == 1 else f"input {i + 1}"
            raise UsageError(f"{which} gives no tokens with this model's tokenizer ({self.path})")
        # every text's ids in one array, each Encoding a view of its part: one conversion, not two per text
        ids, type_ids = (np.fromiter(chain.from_iterable(getattr(e, key) for e, _ in encs), np.int64, int(n.sum()))
                         for key in ("ids", "type_ids"))
        ends = np.cumsum(n)
        return [Encoding(ids[end - k : end], type_ids[end - k : end], truncated, e if tokens else None)
                for (e, truncated), k, end in zip(encs, n.tolist(), ends.tolist())]
