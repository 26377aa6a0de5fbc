"""Data: sources (hub, local datasets and manifests, corpus trees as distributed: TIMIT,
LibriSpeech, Libri-light), nested labeled subsets by audio time, a keyed cache.

The entry points are `harness.data.prepare.prepare` (one run's data) and `prepare_suite`
(every distinct dataset of a suite, once); `harness.synth.corpus.build_corpus` makes the offline
espeak-ng corpus. Training filters touch the training split only: test sets are scored as
published.
"""
