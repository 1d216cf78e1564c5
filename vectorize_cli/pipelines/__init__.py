"""Pipelines: text -> Trace. toy.py (tokens, hash embeddings, positions, attention variants side by
side) and bert.py (a pretrained BERT, layer by layer). Every view reads the Trace they produce."""
