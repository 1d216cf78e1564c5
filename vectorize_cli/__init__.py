"""vectorize: see what a transformer does to a sentence, stage by stage.

text -> tokens -> embedding -> + positional -> attention (one or more variants) -> sentence vector
"""

__version__ = "0.1.0"
