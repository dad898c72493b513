"""kb: a curated knowledge base and claim tracker for deep-learning explanations."""

__version__ = "0.1.0"
