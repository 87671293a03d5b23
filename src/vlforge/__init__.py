"""vlforge: DeepSeek-VL style vision-language data jobs and trainer."""

__version__ = "0.1.0"
