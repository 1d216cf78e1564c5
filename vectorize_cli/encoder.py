"""The encoder: a pretrained model ready to run, opened once from a model source and its options, and the one
way every command reaches a model (`run --model`, `similarity`, `embed`, `search`).

    enc = Encoder.open("minilm", ModelConfig(...))   the options checked (a variant the model has, a backend that
                                                      can run) before the weights are read, then the folder, the
                                                      weights and the tokenizer read and checked once, and one probe
                                                      sentence run through the whole model
    enc.trace(text)    -> Trace                       one sentence, every stage and layer (every view draws it)
    enc.encode(texts)  -> Encoded                     vectors (N, d) float32 in input order, tokens, truncation
    enc.record()       -> dict                        what it resolved: the model (name, source, sha256, d, pooling,
                                                      ...), attention, backend, device, dtype, compiled loops (never |
                                                      always | auto), the prompt and truncate_dim; dataset metadata
                                                      holds it, and `search` opens the encoder it names (from_record)
    enc.for_task("query" | "document")                the model's own prompt for queries or documents, as
                                                      sentence-transformers' encode_query / encode_document pick it

Prompts and Matryoshka dimensions, as sentence-transformers' encode(texts, prompt_name=, prompt=, truncate_dim=):

    text'  = lower?(prompt + text)          the prompt prepended (do_lower_case: then lower-cased)
    v      = model(text')                   pooled over the text's tokens alone where include_prompt is false
    v[:N]                                   --truncate-dim N: after every module (Normalize included), never
                                            normalised again, as sentence-transformers truncates
"""

from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from pathlib import Path
from typing import NamedTuple

import numpy as np

from vectorize_cli.config import ModelConfig
from vectorize_cli.errors import UsageError, VectorizeError, short, tell

# encode_query / encode_document: the prompt names each looks for, in order (sentence-transformers')
TASKS = {"query": ("query",), "document": ("document", "passage", "corpus")}


@dataclass(frozen=True)
class Encoded:
    vectors: np.ndarray  # (N, d) float32, in input order
    n_tokens: np.ndarray  # (N,) int32, the model's special tokens included
    truncated: np.ndarray  # (N,) bool: longer than the model reads, cut to its first max_length tokens


class Tokenized(NamedTuple):
    texts: list[str]  # as the model reads them: the prompt in front
    encodings: list  # model.tokenizer.encode(texts, tokens=False): ids, no token strings


def resolved_source(source: str) -> str:
    """What a record names as the model: `minilm`, or the folder's absolute path (a dataset is searched from
    any working directory)."""
    from vectorize_cli.model.files import MINILM

    return source if source == MINILM else str(Path(source).resolve())


# what else than the weights makes a vector (record()'s): compared when a record is opened again
SAME_MODEL = ("d", "pool", "normalize", "max_length", "include_prompt", "do_lower_case", "prompts",
              "default_prompt_name")
SAME_RUN = ("dtype", "truncate_dim")


def config_differences(recorded: dict, now: dict) -> list[str]:
    """The fields of a record (record()) that an encoder's record now differs in, as `pool 'cls', not 'mean'`
    (the recorded value last); a field the record does not hold (an older version's) is not compared."""
    model, model_now = recorded.get("model") or {}, now["model"]
    pairs = [(k, model_now[k], model[k]) for k in SAME_MODEL if k in model]
    pairs += [(k, now[k], recorded[k]) for k in SAME_RUN if k in recorded]
    return [f"{k} {short(a)}, not {short(b)}" for k, a, b in pairs if a != b]


class Encoder:
    """A model, its tokenizer and the backend it runs on, with the options of every call (config)."""

    def __init__(self, model, config: ModelConfig, backend, attention: str):
        self.model = model  # model.bert.Model: folder, weights, tokenizer
        self.config = config
        self.backend = backend  # backend.Backend, resolved once
        self.attention = attention  # the name of dispatch.ATTENTION_FUNCTIONS that runs

    @classmethod
    def open(cls, source: str, config: ModelConfig = ModelConfig(), expect_tokens: int = 0) -> "Encoder":
        """--model's value (`minilm` or a folder) and the options -> the encoder, or one clear error;
        expect_tokens: a guess of the tokens it will encode in one run, from the input's size, where known
        (compiled.prefetch: loops that run would take start loading while the weights are read)."""
        from vectorize_cli import compiled, pipelines
        from vectorize_cli.backend import slow_precision
        from vectorize_cli.model import files, modules
        from vectorize_cli.model.bert import load
        from vectorize_cli.pipelines.bert import backend_for

        backend, attention = backend_for(config)  # before reading the weights: a bad option fails at once
        if why := slow_precision(backend):
            tell("warning", why)
        if expect_tokens:  # the folder checked first (0.5 ms; load reads it again): a wrong --model is said at once,
            files.read(source, modules.head_of)  # not after the loops it would start loading (the process waits)
            compiled.prefetch(backend, expect_tokens)
        model = load(source)  # read once per process
        pipelines.of(model).probe(model)  # the model's family's pipeline (a decoder's: pipelines/decoder.py)
        c = model.folder.config
        for name, value, n, what in (("layer", config.layer, c.n_layer, "layers"),
                                     ("head", config.head, c.n_head, "heads")):
            if value is not None and not 1 <= value <= n:
                raise UsageError(f"--{name} {value}: the model has {n} {what}, numbered 1 to {n}")
        enc = cls(model, config, backend, attention)
        enc.check_prompt()
        return enc

    def check_prompt(self) -> None:
        """--prompt-name names one of the model's prompts, --truncate-dim fits the vectors; else one usage error."""
        names, n, d = self.model.folder.head.prompts, self.config.truncate_dim, self.model.folder.d
        if self.config.prompt_name is not None and self.config.prompt_name not in names:
            has = f"the prompts {', '.join(names)}" if names else "no prompts"
            raise UsageError(f"--prompt-name {self.config.prompt_name}: the model {self.name} has {has}; "
                             "or give --prompt TEXT")
        if n is not None and n > d:
            raise UsageError(f"--truncate-dim {n}: the model {self.name} gives {d}-d vectors")

    @classmethod
    def from_record(cls, record: dict, batch_size: int = 32, source: str | None = None,
                    what: str = "the record", **prompt) -> "Encoder":
        """The encoder a record (record(), as dataset metadata holds it) names: the same model, attention,
        dtype and truncate_dim on the same backend (the device: whatever this machine has); source: another copy
        of the same weights (checked: sha256, then the rest of what makes a vector: config_differences(), a
        usage error naming each field); prompt: prompt_name= or prompt= (a query's, never the record's)."""
        model = record.get("model") or {}
        given = source is not None
        source = source if given else model.get("source")
        if not source:
            raise VectorizeError(f"{what}: the metadata names no model source; give --model")
        config = ModelConfig(attention=record.get("attention", "multi-head"), backend=record.get("backend", "numpy"),
                             dtype=record.get("dtype", "float32"), batch_size=batch_size,
                             truncate_dim=record.get("truncate_dim"), **prompt)
        enc = cls.open(source, config)
        if enc.sha256 != model.get("sha256"):
            raise VectorizeError(f"the model {source} (sha256 {enc.sha256[:12]}...) is not the model {what} was "
                                 f"embedded with ({model.get('name')}, sha256 {str(model.get('sha256'))[:12]}...): "
                                 "its vectors would not be comparable")
        if differ := config_differences(record, enc.record()):  # same weights, another pooling, prompts, ...
            error = UsageError if given else VectorizeError  # --model's choice, or the recorded folder edited since
            raise error(f"the model {source} has the weights {what} was embedded with, but another "
                        f"{'; '.join(differ)}: its vectors would not be comparable")
        return enc

    @property
    def d(self) -> int:
        """The width of the sentence vectors: --truncate-dim, else the model's (its last Dense's)."""
        return self.config.truncate_dim or self.model.folder.d

    @property
    def prompt(self) -> str:
        """The text prepended to every input: --prompt, else --prompt-name's, else the model's default, else ''."""
        c, head = self.config, self.model.folder.head
        name = c.prompt_name if c.prompt_name is not None else head.default_prompt_name
        return c.prompt if c.prompt is not None else head.prompts.get(name, "") if name is not None else ""

    @cached_property
    def skip(self) -> int:
        """Tokens left out of the pooling: the prompt's, [CLS] included, its [SEP] not (include_prompt false),
        as sentence-transformers counts them; else none."""
        if self.model.folder.head.include_prompt or not self.prompt:
            return 0
        (enc,) = self.model.tokenizer.encode([self._texts([""])[0]], tokens=False)
        return len(enc.ids) - 1

    def _texts(self, texts: list[str]) -> list[str]:
        """The texts as the tokenizer reads them: the prompt prepended, lower-cased where the model says."""
        texts = [self.prompt + t for t in texts] if self.prompt else texts
        return [t.lower() for t in texts] if self.model.folder.do_lower_case else texts

    def for_task(self, task: str) -> "Encoder":
        """The encoder for queries or documents (TASKS): where no prompt was asked for, the model's own prompt
        for them, as sentence-transformers' encode_query / encode_document; else this one."""
        names = self.model.folder.head.prompts
        name = next((n for n in TASKS[task] if n in names), None)
        if name is None or self.config.prompt is not None or self.config.prompt_name is not None:
            return self
        return self.with_options(prompt_name=name)

    @property
    def max_length(self) -> int:
        """Tokens read per text, the model's special tokens included."""
        return self.model.folder.max_length

    @property
    def name(self) -> str:
        return self.model.folder.name

    @property
    def sha256(self) -> str:
        """Which weights these are: hex sha256 of model.safetensors (hashed once, by the model)."""
        return self.model.sha256

    def with_options(self, **changes) -> "Encoder":
        """The same model with other per-call options (batch_size, max_memory, layer, head)."""
        return Encoder(self.model, replace(self.config, **changes), self.backend, self.attention)

    def trace(self, text: str):
        """One sentence, every stage and layer kept -> Trace."""
        from vectorize_cli import pipelines

        t = pipelines.of(self.model).trace(self.model, self._texts([text])[0], self.config, self.skip)
        return t if self.config.truncate_dim is None else replace(
            t, sentence_vector=t.sentence_vector[: self.config.truncate_dim].copy())

    def tokenize(self, texts: Sequence[str]) -> Tokenized:
        """Texts -> the model's token ids (the prompt in front): encode's first step, apart, so that a caller may
        tokenize the next texts on a CPU thread while the model runs (corpus/local.py)."""
        texts = self._texts(list(texts))
        return Tokenized(texts, self.model.tokenizer.encode(texts, tokens=False))

    def encode(self, texts: Sequence[str] | Tokenized, on_batch=None) -> Encoded:
        """Texts (or what tokenize made of them) -> their sentence vectors, batched by length (a vector does not
        depend on its batch); on_batch(n) is told each batch of n texts done (a progress bar)."""
        from vectorize_cli import pipelines

        # tokenized once: for the model and the counts
        texts, encs = texts if isinstance(texts, Tokenized) else self.tokenize(texts)
        vectors, cut = pipelines.of(self.model).encode(self.model, texts, self.config, encs, on_batch, self.skip)
        if self.config.truncate_dim is not None:
            vectors = np.ascontiguousarray(vectors[:, : self.config.truncate_dim])  # (N, truncate_dim)
        truncated = np.zeros(len(texts), dtype=bool)
        truncated[cut] = True
        return Encoded(vectors, np.array([len(e.ids) for e in encs], dtype=np.int32), truncated)

    def record(self) -> dict:
        """What this encoder is and how it runs, as JSON: dataset metadata holds it (from_record reads it)."""
        f = self.model.folder
        return {"model": {"name": f.name, "source": resolved_source(self.model.source), "sha256": self.sha256,
                          "d": self.d, "pool": f.pool, "normalize": f.normalize, "max_length": f.max_length,
                          "include_prompt": f.head.include_prompt, "do_lower_case": f.do_lower_case,
                          "prompts": dict(f.head.prompts), "default_prompt_name": f.head.default_prompt_name},
                "attention": self.config.attention, "backend": self.backend.name, "device": self.backend.device,
                "dtype": self.backend.dtype, "compiled": self.backend.compiled, "notes": list(self.backend.notes),
                "prompt_name": self.config.prompt_name, "prompt": self.prompt, "truncate_dim": self.config.truncate_dim}

