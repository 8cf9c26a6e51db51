"""The one error type the lab raises for problems a user can fix.

Every LabError carries a one-line message and, where there is one, the fix.
The edge (tasks.py) turns it into a red line and exit status 1.
"""


class LabError(Exception):
    """An expected failure: bad input, a busy port, a lab that is not up."""

    def __init__(self, message: str, fix: str = ""):
        super().__init__(message)
        self.message = message
        self.fix = fix

    def __str__(self) -> str:
        return f"{self.message} — {self.fix}" if self.fix else self.message


class ManifestError(LabError):
    """A manifest the lab cannot accept (malformed, unknown field, bad reference)."""


class NotUp(LabError):
    def __init__(self, what: str = "the lab is not up"):
        super().__init__(what, "run `invoke up` first")
