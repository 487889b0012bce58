"""Errors that mmlab shows to people.

A learner who typed a wrong path or whose jsonl file has a typo should get one line that says
what is wrong, where, and how to fix it -- never a Python traceback. Every such mistake raises an
`MmlabError` (or a subclass); the command line turns it into `mmlab: error: ...` and exit status 2.
"""

from __future__ import annotations

from pathlib import Path


class MmlabError(Exception):
    """A mistake the user can fix. `str(error)` is one line: what, where, how to fix."""


class DatasetError(MmlabError):
    """A problem with a dataset folder, pointing at the file, line and field when known.

    >>> str(DatasetError("label is 2, expected 0 or 1", file="train.jsonl", line=3,
    ...                  field="label", fix="set it to 0 or 1"))
    "train.jsonl line 3, field 'label': label is 2, expected 0 or 1 (fix: set it to 0 or 1)"
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | Path | None = None,
        line: int | None = None,
        field: str | None = None,
        fix: str | None = None,
    ) -> None:
        self.message = message
        self.file = str(file) if file is not None else None
        self.line = line
        self.field = field
        self.fix = fix
        super().__init__(self._one_line())

    def _one_line(self) -> str:
        where = self.file or ""
        if self.line is not None:
            where += f" line {self.line}"
        if self.field:
            where += f", field '{self.field}'" if where else f"field '{self.field}'"
        text = f"{where}: {self.message}" if where else self.message
        return f"{text} (fix: {self.fix})" if self.fix else text
