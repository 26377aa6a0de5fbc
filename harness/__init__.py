"""harness: a pytest-style ablation harness for CTC fine-tuning of wav2vec2-family encoders."""

__version__ = "0.1.0"
