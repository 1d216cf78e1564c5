"""Attention: kernels.py (the formula), dispatch.py (which function computes it), sdpa.py (torch's fused
kernel), params.py (seeded weights), variants.py (the registry), rollout.py (across heads and layers)."""
