"""Expectations in suite files: what a suite is supposed to show, checked against its results.

    expect:
      - wer[labeled=1h] <= 0.25                        # an absolute bound on one run
      - cer < 30%                                      # ... on every run (no selector = [*])
      - wer.whisper[labeled=5h] < wer.whisper[labeled=10min] significantly
      - wer[lr=*] >= wer[baseline]                     # no learning rate beats the baseline's
      - train_seconds[*] < 600
      - wer.ngram[baseline] < wer[baseline] significantly   # the LM helps the same run

An expectation compares a metric of some runs with a number or with the same kind of metric of
other runs: `<`, `<=`, `>` or `>=`, optionally `significantly` (a paired bootstrap on the same
test utterances must agree). Metrics: `wer` and `cer` (fractions; a rule set after a dot, e.g.
`wer.whisper`, else the baseline's first `text.scoring` rule set; then a decoder of
`eval.decoders`, e.g. `wer.ngram` or `wer.whisper.ngram`, else greedy), `final_loss` and
`train_seconds`. Runs: `[baseline]`, `[*]` (every run), or settings such as `[labeled=1h]` or
`[labeled=1h,lr=3e-4]`: the run with those values and the baseline's everywhere else (globs:
`[lr=*]`). Bounds read `0.25` or `25%`.

    parse.parse_expression(text) -> Comparison  the grammar, never eval; str() prints it
    resolve.parse_expectations(raw, runs)       the `expect:` list against a suite's runs
        -> (expectations, problems as (key path, message))
    check.check_expectations(expectations, records_by_id, suite, runs_root)
        -> rows {expectation, status: passed|failed|error, measured}
    check.format_expectations(rows) -> str      for the terminal

The language (parse, resolve) is part of reading a suite file: harness.config.suite uses it, so
it imports only harness.config's settings and values. The check reads stored results and
scoring, so it sits above harness.run; this package's __init__ imports neither.
"""
