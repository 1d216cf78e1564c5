"""The embedded-corpus dataset, one owner for its format: precision.py (each precision's quantize, dequantize and
query), format.py (the layout: parts, _SUCCESS, metadata, columns), writer.py (parts written whole, resume,
--force), reader.py (checked complete, blocks of rows)."""
