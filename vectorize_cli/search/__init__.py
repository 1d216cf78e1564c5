"""Search an embedded corpus (the Parquet dataset `vectorize embed` writes): `vectorize search` and `vectorize index`.

dataset.py (open a dataset: _SUCCESS, metadata, blocks of rows with bounded memory), vectors.py (each precision's
stored vectors as float32 for cosine), topk.py (the k best per query, ties broken by id), exact.py (the streamed
exact search on every core, binary --rescore), ann.py (the HNSW index file, usearch), query.py (the queries'
vectors from the dataset's own model), hits.py (results as JSON records and tables).
"""
