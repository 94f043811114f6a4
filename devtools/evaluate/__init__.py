"""Answer quality, measured: `python -m devtools.evaluate` runs a ground-truth file against the
app (in process, or any deployment over HTTP) and reports retrieval, correctness, citations,
refusals, repetition, latency and tokens; see README.md ("Evaluation")."""
