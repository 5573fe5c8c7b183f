"""Errors the user can act on. The CLI prints their message (no traceback) and exits with code 2;
any other exception is a bug and keeps its traceback."""

# How to get a bundle when there is none: said by every message about a missing bundle.
TRAIN_HINT = "train one with `bankrisk train --data PATH` (or `make run DATA=PATH`)"


class BankRiskError(Exception):
    """Base class: a problem with input or set-up that the message explains."""


class UsageError(BankRiskError):
    """A command-line option has a bad value or does not go with another; the message names
    the options."""


class MissingExtraError(BankRiskError):
    """A command needs an optional dependency group (`pip install 'bankrisk[EXTRA]'`) that is
    not installed."""

    def __init__(self, command: str, extra: str, module: str) -> None:
        super().__init__(
            f"`{command}` needs the {extra} extra ({module} is missing): "
            f"pip install 'bankrisk[{extra}]'"
        )
        self.extra = extra
        self.module = module


class DataError(BankRiskError):
    """A data file cannot be read or fails validation; the message names columns and counts."""


class DownloadError(BankRiskError):
    """The official data set could not be fetched."""


class BundleError(BankRiskError):
    """A serving bundle is missing, incomplete or corrupt."""


class MissingBundleError(BundleError):
    """There is no bundle at all where one is expected; the message says how to train one."""

    def __init__(self, problem: str) -> None:
        super().__init__(f"{problem}: {TRAIN_HINT}")
