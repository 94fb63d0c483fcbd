"""User-facing error types.

Every failure a user can cause (bad config, bad data, bad launch request) is raised as
one of these, with a message that names the file, key or value and what was expected.
The CLI prints them as one readable paragraph and exits non-zero, without a traceback
(set ``SEGTRAIN_DEBUG=1`` to see one).
"""

from __future__ import annotations


class SegtrainError(Exception):
    """Base class: an error whose message is meant for the user, not a developer."""

    exit_code = 2


class ConfigError(SegtrainError):
    """A config key, value or option is wrong (names the key and the valid choices)."""


class DataError(SegtrainError):
    """A dataset file or layout is wrong (names the file and what was expected)."""


class LaunchError(SegtrainError):
    """A job cannot be launched (names the setting and what was expected)."""


class CheckpointError(SegtrainError):
    """A checkpoint cannot be read or does not match the model it is loaded into."""


class RunInterrupted(SegtrainError):
    """Training stopped by SIGTERM / SIGINT after saving what resumes it.

    Exits with 128 + the signal number (143 for SIGTERM, 130 for SIGINT), the code a
    process killed by that signal reports, so SageMaker and shells see a stopped job,
    never a successful one.
    """

    def __init__(self, message: str, signum: int) -> None:
        super().__init__(message)
        self.signum = signum
        self.exit_code = 128 + int(signum)
