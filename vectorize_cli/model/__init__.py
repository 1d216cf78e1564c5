"""Pretrained sentence-embedding models (BERT family) from a local Hugging Face folder: --model.

files.py (find and check the folder, read its configs), weights.py (model.safetensors), tokenizer.py
(tokenizer.json), validate.py (one pass over a loaded model), nn.py (dense, LayerNorm, GELU, erf, exp),
compiled.py (nn.py's GELU and exp compiled by numba) and object_cache.py (its object files), budget.py
(--max-memory for a model), bert.py (load, and the forward pass). The pipeline that runs it is
pipelines/bert.py; every file of the folder is read through safe_read.py.
"""
