"""Errors the user can act on.

Every error raised for bad input, missing data or a damaged model derives from
:class:`SnnappError`; the CLI prints its message on one line, without a traceback.
Messages name the file concerned and say what is wrong with it.
"""

from __future__ import annotations


class SnnappError(Exception):
    """Base class of all errors meant for the user."""


class DataError(SnnappError):
    """A data set file is missing, corrupt, or cannot be downloaded."""


class InputError(SnnappError):
    """An input file (WAV, image) cannot be read or makes no sense."""


class ModelError(SnnappError):
    """A model folder is missing files, damaged, tampered with, or of another architecture."""


class ConfigError(SnnappError):
    """A configuration value or file is invalid."""


class PathError(SnnappError):
    """A destination the project will not write: it holds something the project did not write
    (a user's file or folder, a link to elsewhere), or is not a place a file can go (``.``, a pipe)."""
