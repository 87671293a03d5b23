"""The corpus of flaky_corpus.DYING under its own module, as jobs load `module.CORPUS`."""

from flaky_corpus import DYING as CORPUS

__all__ = ["CORPUS"]
