"""xlt: a Snakemake build graph for cross-lingual transfer studies of large language models."""

__version__ = "0.1.0"
