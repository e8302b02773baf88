"""Container openers: zip, tar, compressed streams and 7z.

Each module parses its container from ``blob.read_at`` with hard limits, reports structural
anomalies (parser differentials between the real loader and Python's modules, bombs,
traversal names, links) as findings, and returns the members as child nodes for the engine
to sniff and scan in turn.
"""
