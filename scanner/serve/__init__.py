"""The admission service: an HTTP API over the same scan engine, for MLOps platforms.

``create_app`` builds the ASGI app; ``modelscan serve`` runs it under uvicorn. Admission
answers come from a verdict cache keyed by immutable identity (content digest or pinned
commit) plus the rules and policy digests; anything unknown is denied as ``pending`` while a
background scan runs (fail closed).
"""
