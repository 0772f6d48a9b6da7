"""``jepsen-lite report``: a self-contained HTML page and PNG plots for a run folder.

:func:`~jepsen_lite.report.html.write_report` writes ``report.html``, ``latency.png`` and
``throughput.png`` into a run folder; :mod:`jepsen_lite.report.cli` is the command and the
``--report`` policy of ``jepsen-lite run``. Importing this package does not import
matplotlib: :mod:`jepsen_lite.report.plots` does, when a report is drawn.
"""
