"""Models: build from a preset or a checkpoint (fresh CTC head), and the freezing policies."""
