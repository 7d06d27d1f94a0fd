"""Evaluation: prompts in, predictions out — label scoring, generation, answer extraction."""
