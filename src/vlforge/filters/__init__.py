"""Stages that keep or reject samples, each with its own reject reason."""
