"""The model's own tokenizer, from its tokenizer.json (Hugging Face `tokenizers`): normalisation
(lower-casing, accents, CJK characters split) as the file says, WordPiece, then [CLS] ... [SEP].

tokenizer.json may carry padding and truncation settings of its own (all-MiniLM-L6-v2's pads
everything to 128): both are replaced here. Inputs longer than the model reads are cut to
max_length tokens ([SEP] kept last) and reported as truncated, never an index error.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vectorize_cli.errors import VectorizeError


@dataclass(frozen=True)
class Encoding:
    tokens: list[str]  # T WordPiece tokens, [CLS] first, [SEP] last
    ids: np.ndarray  # (T,) int64 rows of the word-embedding table
    type_ids: np.ndarray  # (T,) int64 token types (0: one sentence)
    truncated: bool  # the input was longer than max_length tokens


class WordPiece:
    def __init__(self, path: Path, max_length: int):
        try:
            from tokenizers import Tokenizer
        except ImportError:
            raise VectorizeError("--model needs tokenizers: pip install 'vectorize-cli[model]'") from None
        try:
            self.tok = Tokenizer.from_file(str(path))
        except Exception as e:  # tokenizers raises a plain Exception for a malformed file
            raise VectorizeError(f"cannot read {path}: {e}") from None
        self.tok.no_padding()
        self.tok.enable_truncation(max_length)
        self.max_length = max_length

    def encode(self, texts: list[str]) -> list[Encoding]:
        """Every text at once (the Rust side uses all cores)."""
        return [
            Encoding(e.tokens, np.array(e.ids, dtype=np.int64), np.array(e.type_ids, dtype=np.int64),
                     len(e.overflowing) > 0)
            for e in self.tok.encode_batch(texts)
        ]
