"""Decoding: exact batched forward passes over prepared utterances -> greedy CTC hypotheses ->
predictions.jsonl.
"""
