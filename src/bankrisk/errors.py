"""Errors the user can act on. The CLI prints their message (no traceback) and exits non-zero."""


class BankRiskError(Exception):
    """Base class: a problem with input or set-up that the message explains."""


class DataError(BankRiskError):
    """A data file cannot be read or fails validation; the message names columns and counts."""


class DownloadError(BankRiskError):
    """The official data set could not be fetched."""


class BundleError(BankRiskError):
    """A serving bundle is missing, incomplete or corrupt."""
