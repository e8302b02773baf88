"""Model files for hub tests, generated here: benign checkpoints and harmless malicious ones.

Nothing in this module loads a pickle; it only writes them. The malicious payload is the
command ``true``.
"""

from __future__ import annotations

import io
import os
import pickle
from collections import OrderedDict
from typing import Any

from tests.hub.fakehub import Content, Segment, safetensors_file, stored_zip


class _Storage:
    def __init__(self, key: str, numel: int) -> None:
        self.key, self.numel = key, numel


class _Tensor:
    """Pickles exactly as ``torch.save`` pickles a float32 tensor backed by storage ``key``."""

    def __init__(self, key: str, numel: int) -> None:
        self.storage = _Storage(key, numel)

    def __reduce__(self) -> tuple[Any, ...]:
        import torch._utils

        n = self.storage.numel
        return (torch._utils._rebuild_tensor_v2, (self.storage, 0, (n,), (1,), False, OrderedDict()))


class _TorchPickler(pickle.Pickler):
    def persistent_id(self, obj: Any) -> Any:
        if isinstance(obj, _Storage):
            import torch

            return ("storage", torch.FloatStorage, obj.key, "cpu", obj.numel)
        return None


def torch_data_pkl(tensors: dict[str, int]) -> bytes:
    """``data.pkl`` of a state dict ``{name: float32 tensor of numel}``; storages named 0, 1, ..."""
    state = OrderedDict((name, _Tensor(str(i), n)) for i, (name, n) in enumerate(tensors.items()))
    buf = io.BytesIO()
    _TorchPickler(buf, protocol=2).dump(state)
    return buf.getvalue()


def torch_zip_checkpoint(
    tensors: dict[str, int], prefix: str = "archive", sha256: str | None = None
) -> Content:
    """A PyTorch zip checkpoint whose tensor data is synthesized zeros (never stored)."""
    members: list[tuple[str, Segment]] = [
        (f"{prefix}/data.pkl", torch_data_pkl(tensors)),
        (f"{prefix}/.format_version", b"1"),
        (f"{prefix}/byteorder", b"little"),
    ]
    members += [(f"{prefix}/data/{i}", n * 4) for i, n in enumerate(tensors.values())]
    members += [(f"{prefix}/version", b"3\n")]
    return stored_zip(members, sha256=sha256)


class _RunsCommand:
    def __reduce__(self) -> tuple[Any, ...]:
        return (os.system, ("true",))


def malicious_pickle() -> bytes:
    """A pickle that calls ``os.system("true")`` when loaded."""
    return pickle.dumps({"weights": _RunsCommand()}, protocol=2)


def malicious_torch_checkpoint() -> Content:
    """A PyTorch zip checkpoint whose ``data.pkl`` runs a command when ``torch.load``-ed."""
    return stored_zip([("archive/data.pkl", malicious_pickle()), ("archive/version", b"3\n")])


def small_safetensors() -> Content:
    return safetensors_file({"embed.weight": ("F32", [64, 32]), "head.bias": ("F32", [32])})


CONFIG = b'{"model_type": "bert", "architectures": ["BertModel"], "hidden_size": 32}'
