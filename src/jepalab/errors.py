"""User-facing errors.

Anything a user can cause (a missing file, a wrong shape, a bad config key) raises a
:class:`JepalabError` whose message names the problem. The CLI prints that message alone
and exits with status 2; a traceback means a bug in jepalab, not in the input.
"""

from __future__ import annotations


class JepalabError(Exception):
    """A problem with the user's input, files or configuration."""


class ConfigError(JepalabError):
    """A configuration key or value that does not exist or does not parse."""


class DataError(JepalabError):
    """A dataset that is missing, truncated, corrupt or does not match the model."""


class CheckpointError(JepalabError):
    """A checkpoint that is missing, corrupt or belongs to a different model."""
