"""Remote code (trust_remote_code) analyzed as source with `ast`: what it would do, never run."""

from __future__ import annotations

import textwrap

from scanner.formats.pysource import analyze_source
from scanner.model import Severity
from scanner.rules import load_rules

BENIGN_MODELING = """
import math
import os
from typing import Optional

import torch
from torch import nn
from transformers import PreTrainedModel
from transformers.utils import logging

from .configuration_tiny import TinyConfig

logger = logging.get_logger(__name__)


class TinyModel(PreTrainedModel):
    config_class = TinyConfig

    def __init__(self, config):
        super().__init__(config)
        self.proj = nn.Linear(config.hidden_size, config.hidden_size)
        if os.environ.get("TINY_DEBUG"):
            logger.info("debug")

    def forward(self, x: torch.Tensor, mask: Optional[torch.Tensor] = None):
        return self.proj(x) / math.sqrt(x.shape[-1])

    def save_vocabulary(self, save_directory, prefix=None):
        path = os.path.join(save_directory, "vocab.txt")
        with open(path, "w") as fh:
            fh.write("x")
        return (path,)
"""


def _scan(source: str) -> list[tuple[str, Severity]]:
    return [
        (f.rule_id, f.severity)
        for f in analyze_source(textwrap.dedent(source), "modeling_x.py", load_rules())
    ]


def test_benign_modeling_file_raises_nothing_above_low() -> None:
    assert all(sev <= Severity.LOW for _, sev in _scan(BENIGN_MODELING))


def test_os_system_in_function_is_high() -> None:
    assert _scan("import os\ndef f():\n    os.system('true')\n") == [("REMOTE-CODE-010", Severity.HIGH)]


def test_os_system_at_import_time_is_critical() -> None:
    assert _scan("import os\nos.system('true')\n") == [("REMOTE-CODE-010", Severity.CRITICAL)]


def test_call_in_class_body_runs_at_import() -> None:
    assert _scan("import os\nclass M:\n    x = os.popen('true')\n") == [
        ("REMOTE-CODE-010", Severity.CRITICAL)
    ]


def test_main_guard_is_not_import_time() -> None:
    assert _scan("import os\nif __name__ == '__main__':\n    os.system('true')\n") == [
        ("REMOTE-CODE-010", Severity.HIGH)
    ]


def test_aliased_subprocess_is_resolved() -> None:
    assert _scan("import subprocess as sp\nsp.run(['true'])\n") == [("REMOTE-CODE-010", Severity.CRITICAL)]


def test_from_import_alias_is_resolved() -> None:
    assert _scan("from os import system as s\ns('true')\n") == [("REMOTE-CODE-010", Severity.CRITICAL)]


def test_getattr_on_module_is_resolved() -> None:
    assert ("REMOTE-CODE-010", Severity.CRITICAL) in _scan("import os\ngetattr(os, 'system')('true')\n")


def test_dunder_import_chain_is_resolved() -> None:
    assert ("REMOTE-CODE-010", Severity.CRITICAL) in _scan("__import__('os').system('true')\n")


def test_builtins_subscript_eval_is_resolved() -> None:
    assert ("REMOTE-CODE-011", Severity.CRITICAL) in _scan("__builtins__['eval']('1')\n")


def test_base64_payload_executed_is_critical() -> None:
    found = _scan("import base64\nexec(base64.b64decode('cHJpbnQoMSk='))\n")
    assert found == [("REMOTE-CODE-015", Severity.CRITICAL)]


def test_decoded_payload_through_variable_is_critical() -> None:
    src = (
        "import zlib, base64\ndef go():\n    blob = zlib.decompress(base64.b64decode(DATA))\n"
        "    code = blob\n    exec(code)\n"
    )
    assert ("REMOTE-CODE-015", Severity.CRITICAL) in _scan(src)


def test_pickle_loads_of_embedded_bytes_is_critical() -> None:
    assert ("REMOTE-CODE-015", Severity.CRITICAL) in _scan(
        "import pickle, base64\nobj = pickle.loads(base64.b64decode(B))\n"
    )


def test_plain_pickle_loads_is_high() -> None:
    assert _scan("import pickle\ndef f(b):\n    return pickle.loads(b)\n") == [
        ("REMOTE-CODE-016", Severity.HIGH)
    ]


def test_exec_of_constant_string_is_analyzed_as_code() -> None:
    found = _scan("exec(\"import os\\nos.system('true')\")\n")
    assert ("REMOTE-CODE-011", Severity.CRITICAL) in found
    assert ("REMOTE-CODE-010", Severity.CRITICAL) in found


def test_dynamic_import_with_computed_name_is_medium() -> None:
    assert _scan("import importlib\ndef f(n):\n    return importlib.import_module(n)\n") == [
        ("REMOTE-CODE-012", Severity.MEDIUM)
    ]


def test_constant_optional_import_is_not_flagged() -> None:
    assert _scan("import importlib\ndef f():\n    return importlib.import_module('flash_attn')\n") == []


def test_network_call_at_import_is_high() -> None:
    assert _scan("import urllib.request\nurllib.request.urlopen('http://x')\n") == [
        ("REMOTE-CODE-013", Severity.HIGH)
    ]


def test_write_outside_model_dir_is_high() -> None:
    assert _scan("def f():\n    open('/etc/cron.d/x', 'w').write('x')\n") == [
        ("REMOTE-CODE-014", Severity.HIGH)
    ]


def test_write_to_home_is_high() -> None:
    src = "import os\ndef f():\n    open(os.path.expanduser('~/.bashrc'), 'a')\n"
    assert ("REMOTE-CODE-014", Severity.HIGH) in _scan(src)


def test_ctypes_is_high() -> None:
    assert _scan("import ctypes\ndef f():\n    ctypes.CDLL('libc.so.6')\n") == [
        ("REMOTE-CODE-017", Severity.HIGH)
    ]


def test_decorator_runs_at_import() -> None:
    assert _scan("import os\n@os.system('true')\ndef f():\n    pass\n") == [
        ("REMOTE-CODE-010", Severity.CRITICAL)
    ]


def test_unparseable_source_fails_closed() -> None:
    assert _scan("def (:\n") == [("REMOTE-CODE-020", Severity.MEDIUM)]


def test_module_name_built_from_pieces_is_resolved() -> None:
    assert ("REMOTE-CODE-010", Severity.CRITICAL) in _scan(
        "getattr(__import__('o' + 's'), 'sys' + 'tem')('true')\n"
    )


def test_reversed_and_joined_names_are_resolved() -> None:
    src = "import importlib\nm = importlib.import_module(''.join(['sub', 'process']))\nm.run(['true'])\n"
    assert ("REMOTE-CODE-010", Severity.CRITICAL) in _scan(src)
    assert ("REMOTE-CODE-010", Severity.CRITICAL) in _scan(
        "getattr(__import__('so'[::-1]), 'system')('true')\n"
    )


def test_callable_bound_to_a_plain_name_is_resolved() -> None:
    src = "import os\nrun_it = os.system\ndef f():\n    run_it('true')\n"
    assert _scan(src) == [("REMOTE-CODE-010", Severity.HIGH)]


def test_torch_hub_load_runs_code_from_github() -> None:
    assert _scan("import torch\ndef f():\n    return torch.hub.load('evil/repo', 'm')\n") == [
        ("REMOTE-CODE-011", Severity.HIGH)
    ]


def test_yaml_unsafe_load_is_deserialization() -> None:
    assert _scan("import yaml\ndef f(t):\n    return yaml.unsafe_load(t)\n") == [
        ("REMOTE-CODE-016", Severity.HIGH)
    ]


def test_copying_vocab_into_save_directory_is_low_but_to_home_is_high() -> None:
    inside = "from shutil import copyfile\ndef save(self, d):\n    copyfile(self.vocab, d + '/vocab.txt')\n"
    assert _scan(inside) == [("REMOTE-CODE-019", Severity.LOW)]
    outside = "import shutil\ndef f(src):\n    shutil.copy(src, '/usr/local/bin/python3')\n"
    assert _scan(outside) == [("REMOTE-CODE-014", Severity.HIGH)]


def test_absolute_destination_built_with_join_or_fstring_is_high() -> None:
    assert ("REMOTE-CODE-014", Severity.HIGH) in _scan(
        "import os\ndef f(n):\n    open(os.path.join('/etc', n), 'w')\n"
    )
    assert ("REMOTE-CODE-014", Severity.HIGH) in _scan("def f(n):\n    open(f'/etc/{n}', 'w')\n")
    assert ("REMOTE-CODE-014", Severity.HIGH) in _scan("def f(d):\n    open(d + '/../../x', 'w')\n")
