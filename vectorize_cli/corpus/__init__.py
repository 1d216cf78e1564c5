"""Corpora to Parquet: `vectorize embed`. Many inputs in, a resumable Parquet dataset of sentence vectors out.

inputs.py (text, stdin, .jsonl, .csv, .parquet, directories, globs -> rows), local.py (the local engine: the
encoder's batches on every core), ray_engine.py (Ray Data: an actor pool of encoders on a cluster), job.py (one
run: inputs -> engine -> quantize -> the dataset, written through vectorize_cli/dataset/).
"""
