"""The one exception type the command line turns into ``error: ...`` and exit status 1."""


class GraphtoolsError(Exception):
    """A problem with the user's input (file, checkpoint, option), stated in one line."""
