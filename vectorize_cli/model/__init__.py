"""Pretrained sentence-embedding models (BERT family) from a local Hugging Face folder: --model.

files.py (find and check the folder), weights.py (safetensors), tokenizer.py (tokenizer.json),
nn.py (LayerNorm, GELU, erf), backends.py (numpy | torch), bert.py (the forward pass),
pipeline.py (trace one sentence, encode many), render.py / serialize.py (tables, JSON),
cli.py (what `vectorize run --model` and `vectorize similarity` do).
"""
