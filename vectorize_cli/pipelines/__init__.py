"""Pipelines: text -> Trace. toy.py (tokens, hash embeddings, positions, attention variants side by
side), bert.py (a pretrained BERT / RoBERTa, layer by layer) and decoder.py (a Qwen3 / Qwen2 / Llama decoder, layer by
layer). Every view reads the Trace they produce."""


def of(model):
    """The pipeline module that runs a loaded model (trace, encode, probe): decoder.py for a decoder's config
    (model/decoder_config.py), else bert.py."""
    from vectorize_cli.model.decoder_config import DECODERS

    if model.folder.config.model_type in DECODERS:
        from vectorize_cli.pipelines import decoder

        return decoder
    from vectorize_cli.pipelines import bert

    return bert
