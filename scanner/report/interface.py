"""The one interface every report renderer implements."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

from scanner.model import Report
from scanner.policy import Policy


class Renderer(ABC):
    """Turns a finished ``Report`` into text; never computes findings."""

    name: ClassVar[str]
    """The ``--format`` value that selects this renderer."""

    @abstractmethod
    def render(self, report: Report, policy: Policy) -> str:
        """The whole document."""
