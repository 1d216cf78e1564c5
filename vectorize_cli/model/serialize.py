"""JSON records of a pretrained model's run ("kind": "model") and of a similarity matrix
("kind": "similarity"): the contract in README.md ("JSON output: --model"), schemas in docs/.
Numbers are the float32 values in their shortest exact form (vectorize_cli.serialize.dumps)."""

import numpy as np

from vectorize_cli.model.bert import Model
from vectorize_cli.model.pipeline import ModelResult

# bump on any change a consumer could notice; 2: config.kernel
MODEL_SCHEMA_VERSION, SIMILARITY_SCHEMA_VERSION = 2, 1


def model_info(model: Model, source: str) -> dict:
    f, c = model.folder, model.folder.config
    return {"name": f.name, "source": source, "d_model": c.d_model, "n_layer": c.n_layer, "n_head": c.n_head,
            "d_ff": c.d_ff, "vocab_size": c.vocab_size, "max_length": f.max_length, "pool": f.pool,
            "normalize": f.normalize}


def record(res: ModelResult, model: Model, source: str, layer: int, head: int | None) -> dict:
    e = res.encoding
    return {
        "schema_version": MODEL_SCHEMA_VERSION,
        "kind": "model",
        "text": res.text,
        "model": model_info(model, source),
        "config": {"attention": res.variant, "backend": res.backend, "kernel": res.kernel, "layer": layer,
                   "head": head},
        "tokens": e.tokens,
        "ids": e.ids,
        "type_ids": e.type_ids,
        "truncated": e.truncated,
        "word_embedding": res.word,
        "position_embedding": res.position,
        "token_type_embedding": res.token_type,
        "embedded": res.embedded,
        "layers": [{"layer": i + 1, "weights": L.weights, "output": L.output} for i, L in enumerate(res.layers)],
        "sentence_vector": res.sentence_vector,
    }


def similarity_record(model: Model, source: str, texts: list[str], cosine: np.ndarray) -> dict:
    return {"schema_version": SIMILARITY_SCHEMA_VERSION, "kind": "similarity", "model": model_info(model, source),
            "texts": texts, "cosine": cosine}
