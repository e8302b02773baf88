"""The pickle engine: a symbolic unpickler judged against per-loader allowlists.

``vm`` mirrors CPython's unpickler over a ``reader`` with the C loader's FRAME semantics;
``recorder`` judges every reached callable and invocation with ``policy`` (rules from
``rules/pickle/``); ``analyzer`` drives all streams of a file (legacy PyTorch, joblib arrays,
nested pickles).
"""

from scanner.formats.pickle.analyzer import PickleAnalyzer, scan_pickle

ANALYZER = PickleAnalyzer()

__all__ = ["ANALYZER", "PickleAnalyzer", "scan_pickle"]
