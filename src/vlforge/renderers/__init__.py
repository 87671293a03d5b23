"""Renderers that turn documents into images: the hermetic headless browser first."""
