"""The one error type for bad input: it always names the file and, when known, the record."""

from __future__ import annotations

from pathlib import Path


class DataError(ValueError):
    """Bad or missing input data.

    The message always starts with the offending file, then the record (row, dialogue id,
    utterance) when one is known, so a user can open the file and find the problem.
    """

    def __init__(self, path: str | Path, message: str, record: str | int | None = None):
        self.path = str(path)
        self.record = record
        where = self.path if record is None else f"{self.path} [record {record}]"
        super().__init__(f"{where}: {message}")
