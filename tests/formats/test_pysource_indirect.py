"""Remote code that uses a dangerous callable without calling it by name (red-team finds).
Each file is proven live by importing it in a subprocess, then scanned as a model folder."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from scanner.api import scan as scan_target
from scanner.model import Severity
from tests.conftest import run_python

VARIANTS = {
    "decorated_call": "import os\nclass X:\n    x = os.system.__call__('touch {m}')\n",
    "module_dict": "import os\nos.__dict__['sys' + 'tem']('touch {m}')\n",
    "getattribute": "import os\ntype(os).__getattribute__(os, ''.join(['sys', 'tem']))('touch {m}')\n",
    "lambda_import": "(lambda m: m.system)(__import__('os'))('touch {m}')\n",
    "list_index": "import os\n[os.system][0]('touch {m}')\n",
    "map": "import os\nlist(map(os.system, ['touch {m}']))\n",
    "path_write": "import pathlib\npathlib.Path('{m}').write_text('x')\n",
    "reexport_posixpath": "import posixpath\nposixpath.os.system('touch {m}')\n",
    "reexport_shutil": "import shutil\nshutil.os.system('touch {m}')\n",
    "globals_walk": "import warnings\n"
    "warnings.catch_warnings.__init__.__globals__['sys'].modules['os'].system('touch {m}')\n",
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_indirect_use_of_a_dangerous_callable_is_at_least_high(tmp_path: Path, variant: str) -> None:
    marker = tmp_path / "MARKER"
    model = tmp_path / "model"
    model.mkdir()
    (model / "modeling_x.py").write_text(VARIANTS[variant].format(m=marker) + "\nclass XModel:\n    pass\n")
    (model / "config.json").write_text(
        json.dumps({"model_type": "x", "auto_map": {"AutoModel": "modeling_x.XModel"}})
    )
    report = scan_target(str(model))
    assert not marker.exists()
    worst = max((f.severity for f in report.findings), default=None)
    assert worst is not None and worst >= Severity.HIGH, [(f.rule_id, f.severity) for f in report.findings]
    run_python("import modeling_x", cwd=model)
    assert marker.exists(), f"{variant} must really act when imported"
