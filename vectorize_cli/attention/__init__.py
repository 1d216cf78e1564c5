"""Attention: kernels (the formula), dispatch (which function computes it), params (seeded
weights), variants (the registry)."""
