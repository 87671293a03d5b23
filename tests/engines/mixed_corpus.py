"""The corpus of flaky_corpus.MIXED under its own module, as jobs load `module.CORPUS`."""

from flaky_corpus import MIXED as CORPUS

__all__ = ["CORPUS"]
