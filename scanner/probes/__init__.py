"""Backdoor trigger probes over *safetensors* weights (``modelscan probe``).

The one place in modelscan that loads weights, and only safetensors through ``transformers`` with
``trust_remote_code=False``. See ``runner`` for the stages and ``scoring`` for the verdict.
"""

from __future__ import annotations

from scanner.probes.interface import ProbeError, ProbeOptions
from scanner.probes.report import probe_report

__all__ = ["ProbeError", "ProbeOptions", "probe_report"]
