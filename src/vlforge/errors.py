"""The one exception type the CLI turns into a one-line message instead of a traceback."""


class VlforgeError(Exception):
    """A job could not run: bad arguments, missing inputs, an output dir of another job.

    The message is shown to the user as is, so it says what is wrong and how to fix it.
    """
