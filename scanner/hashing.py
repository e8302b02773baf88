"""Content digests of artifacts, computed once and shared by the scan, signatures and AI-BOM.

The static scan reads no tensor data; hashing reads everything, so it runs only when asked
(``--hash``, ``sbom``, ``verify``, ``pull``).
"""

from __future__ import annotations

import hashlib

from scanner.sources.interface import Blob

CHUNK = 4 * 1024 * 1024


def sha256_blob(blob: Blob) -> str:
    """SHA-256 of a blob, read in 4 MiB chunks."""
    h = hashlib.sha256()
    offset = 0
    size = blob.size
    while offset < size:
        chunk = blob.read_at(offset, min(CHUNK, size - offset))
        if not chunk:
            break
        h.update(chunk)
        offset += len(chunk)
    return h.hexdigest()
