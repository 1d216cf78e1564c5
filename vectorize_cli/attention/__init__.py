"""Attention: kernels (the formula), params (seeded weights) and variants (the registry)."""

from vectorize_cli.attention.variants import ATTENTION, Variant

__all__ = ["ATTENTION", "Variant"]
