"""The one error the workbench shows its users: what is wrong and what to do.

Every layer raises it for bad input; the CLI prints it as one line and exits 2, the pages show
it as a message. Anything else escaping is a bug.
"""


class WorkbenchError(ValueError):
    """A problem with the user's input, worded for the user: what is wrong and what to do."""
