"""Where tasks run: a local process pool by default. Nothing corpus-specific lives here."""
