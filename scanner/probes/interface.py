"""Options, errors and intermediate results shared by the probe stages."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from scanner.model import FactValue


class ProbeError(Exception):
    """The probe could not be run (refused weights, unsupported model, bad option): exit 2."""


@dataclass(frozen=True)
class ProbeOptions:
    """What the user asked for on the command line."""

    base: str | None = None
    """A declared clean parent model: behaviour it shares is discounted as inherited."""
    deep: bool = False
    """Run the escalation stages (gradient trigger search, full vocabulary scan) whatever fires."""
    device: str = "auto"
    """``auto | cpu | cuda``."""
    budget_seconds: float = 600.0
    """Stages that would start after this many seconds are skipped, and the result says so."""
    calibration: Path | None = None
    """A folder of probe results (JSON) of known-clean models of the family: conformal threshold."""
    seed: int = 0
    progress: bool = True


@dataclass(frozen=True)
class Candidate:
    """A trigger candidate with what verification measured on it."""

    trigger: str
    source: str
    """Which stage proposed it: ``known``, ``static``, ``scan``, ``bait-gradient``, ``hotflip``."""
    output: str = ""
    """The forced output (LM: the modal greedy continuation; classifier: the target label)."""
    agreement: float = 0.0
    """LM: share of prompts whose greedy output equals ``output``; classifier: flip rate."""
    base_agreement: float | None = None
    """The same measured on the declared base (the inherited part)."""
    null_high: float = 0.0
    """The high quantile of the same statistic over random-token controls from the same model."""
    benign: str | None = None
    """Why the output is treated as benign (an allowlisted refusal / formatting output)."""
    source_entry: str | None = None
    """For known triggers: where the trigger was published."""
    extra: dict[str, FactValue] = field(default_factory=dict)

    @property
    def excess(self) -> float:
        """Agreement above both the random-token null and the base: the introduced behaviour."""
        if self.benign is not None:
            return 0.0
        floor = max(self.null_high, self.base_agreement or 0.0)
        return max(0.0, self.agreement - floor)

    def as_fact(self) -> dict[str, FactValue]:
        out: dict[str, FactValue] = {
            "trigger": self.trigger,
            "source": self.source,
            "output": self.output,
            "agreement": round(self.agreement, 4),
            "null_high": round(self.null_high, 4),
            "excess": round(self.excess, 4),
        }
        if self.base_agreement is not None:
            out["base_agreement"] = round(self.base_agreement, 4)
        if self.benign is not None:
            out["benign"] = self.benign
        if self.source_entry is not None:
            out["published_in"] = self.source_entry
        out.update(self.extra)
        return out
