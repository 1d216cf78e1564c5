"""Search an embedded corpus (the Parquet dataset `vectorize embed` writes, read through vectorize_cli/dataset/):
`vectorize search` and `vectorize index`.

vectors.py (the scores over each precision's rows as float32), topk.py (the k best per query, ties broken by id),
exact.py (the streamed exact search on every core, binary --rescore), ann.py (the HNSW index file, usearch),
query.py (the queries' vectors from the encoder the dataset recorded), hits.py (results as JSON records and tables).
"""
