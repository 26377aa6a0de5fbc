"""Reports: a suite's stored results -> reports/<suite>.md with figures in reports/<suite>/.

    write_report(suite, runs_root, reports_root) -> path of the markdown file

Modules: `load` (records, logs and predictions of the suite's runs), `compare` (paired tests
against the baseline), `tables` (the run tables), `data` (the data section), `figures`
(matplotlib PNGs), `examples` (the best run's errors and aligned utterances), `render`
(the document). Only stored files are read: importing this package imports no torch.
"""

from harness.report.render import write_report

__all__ = ["write_report"]
