"""One module per corpus, each defining `CORPUS` (see pipelines.base for the contract)."""
