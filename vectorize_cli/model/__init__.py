"""Pretrained sentence-embedding models (encoders: BERT, RoBERTa; decoders: Qwen3, Qwen2, Llama) from a local
Hugging Face folder: --model.

files.py (find and check the folder, read its configs), weights.py (model.safetensors), tokenizer.py
(tokenizer.json), validate.py (one pass over a loaded model), nn.py (dense, LayerNorm, GELU, erf, exp; compiled
by numba in the package's numba_loops module, run through its compiled module), budget.py (--max-memory for a
model), bert.py (load, and the forward pass); a decoder's (Qwen3, Qwen2, Llama): decoder_config.py, decoder_weights.py,
decoder_nn.py (RMSNorm, SwiGLU, RoPE, GQA), decoder.py. The pipeline that runs it is pipelines/bert.py (a decoder:
pipelines/decoder.py, chosen by pipelines.of); the encoder that
opens it, the package's encoder; every file of the folder is read through safe_read.py.
"""
