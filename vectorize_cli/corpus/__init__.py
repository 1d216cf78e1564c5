"""Corpora to Parquet: `vectorize embed`. Many inputs in, a resumable Parquet dataset of sentence vectors out.

inputs.py (text, stdin, .jsonl, .csv, .parquet, directories, globs -> rows), quantize.py (int8 / binary vectors,
sentence-transformers' quantize_embeddings), dataset.py (the Parquet parts, metadata, _SUCCESS, resume),
local.py (the local engine: numpy batches on every core), ray_engine.py (Ray Data: an actor pool on a cluster),
job.py (one run: inputs -> engine -> quantize -> dataset).
"""
