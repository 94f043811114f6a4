"""Developer tooling beside the deployed package: the local server and its warm-up, the
command-line tools (ingestion, evaluation) and the server processes of tests and benchmarks.

`shared/` is what Azure runs (.funcignore deploys it, not this); this package may use what
requirements-local.txt and requirements-dev.txt install (uvicorn, tqdm, ranx).
"""
