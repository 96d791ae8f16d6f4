"""Configuration errors that carry every problem at once, each with its file and field path."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ConfigProblem:
    """One problem in one configuration file.

    Parameters
    ----------
    file : Path
        The file the problem is in.
    field : str
        Dotted path of the field (``modalities.bvp.filter.low_hz``), empty for the whole file.
    message : str
        What is wrong and what was expected.
    """

    file: Path
    field: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file}: {self.field}" if self.field else str(self.file)
        return f"{where}: {self.message}"


class ConfigError(ValueError):
    """A configuration file is invalid; ``problems`` lists everything found, not only the first."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = list(problems)
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{len(self.problems)} problem(s) in configuration:\n{lines}")
