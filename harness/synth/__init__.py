"""The offline synthetic English corpus: sentences from a small grammar, espeak-ng voices,
rendering to a local manifest tree.
"""
