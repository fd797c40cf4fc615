"""The one error a project folder raises: its message says why and what to do."""

from __future__ import annotations


class ProjectError(Exception):
    """A project folder cannot be used; the message says why and what to do."""
