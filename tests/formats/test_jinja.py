"""Chat templates as an attack surface (CVE-2024-34359): parsed, never rendered."""

from __future__ import annotations

from pathlib import Path

import pytest

from scanner.formats.jinja import analyze_template
from scanner.model import Severity
from scanner.rules import load_rules
from tests.conftest import run_python
from tests.formats.templates import BENIGN


def _scan(source: str) -> list[tuple[str, Severity]]:
    return [
        (f.rule_id, f.severity)
        for f in analyze_template(source, "tokenizer_config.json", "/chat_template", load_rules())
    ]


def _worst(source: str) -> Severity | None:
    found = _scan(source)
    return max((s for _, s in found), default=None)


@pytest.mark.parametrize("name", sorted(BENIGN))
def test_real_chat_templates_raise_nothing(name: str) -> None:
    assert _scan(BENIGN[name]) == []


def test_llama_drama_payload_is_critical() -> None:
    # the public CVE-2024-34359 proof of concept, with a harmless command
    payload = (
        '{% for x in ().__class__.__base__.__subclasses__() %}{% if "warning" in x.__name__ %}'
        "{{x()._module.__builtins__['__import__']('os').popen(\"true\").read()}}{% endif %}{% endfor %}"
    )
    assert ("TEMPLATE-DUNDER-001", Severity.CRITICAL) in _scan(payload)


def test_cycler_init_globals_gadget_is_critical() -> None:
    found = _scan("{{ cycler.__init__.__globals__.os.popen('true').read() }}")
    assert ("TEMPLATE-DUNDER-001", Severity.CRITICAL) in found
    assert ("TEMPLATE-GADGET-001", Severity.HIGH) in found


def test_joiner_and_lipsum_roots_are_flagged() -> None:
    assert ("TEMPLATE-GADGET-001", Severity.HIGH) in _scan("{{ joiner }}")
    assert ("TEMPLATE-GADGET-001", Severity.HIGH) in _scan("{% set g = lipsum %}{{ g }}")


def test_namespace_init_globals_is_critical() -> None:
    assert _worst("{% set ns = namespace() %}{{ ns.__init__.__globals__ }}") == Severity.CRITICAL


def test_attr_filter_with_dunder_is_critical() -> None:
    assert _worst("{{ messages|attr('__class__') }}") == Severity.CRITICAL


def test_attr_filter_with_concatenated_dunder_is_critical() -> None:
    assert _worst("{{ messages|attr('__cla' ~ 'ss__') }}") == Severity.CRITICAL


def test_subscript_key_built_by_join_is_critical() -> None:
    assert _worst("{{ messages[['__', 'class', '__']|join] }}") == Severity.CRITICAL


def test_subscript_key_built_by_reverse_is_critical() -> None:
    assert _worst("{{ messages['__ssalc__'|reverse] }}") == Severity.CRITICAL


def test_dunder_built_by_multiplication_is_critical() -> None:
    assert _worst("{{ messages|attr('_' * 2 + 'class' + '_' * 2) }}") == Severity.CRITICAL


def test_attr_filter_with_runtime_name_is_high() -> None:
    assert ("TEMPLATE-COMPUTED-001", Severity.HIGH) in _scan("{{ messages|attr(messages[0].content) }}")


def test_subscript_with_unresolvable_string_key_is_high() -> None:
    assert ("TEMPLATE-COMPUTED-001", Severity.HIGH) in _scan("{{ x[messages[0].content ~ 'y'] }}")


def test_template_reference_context_is_high() -> None:
    assert ("TEMPLATE-PRIVATE-001", Severity.HIGH) in _scan("{{ self._TemplateReference__context }}")


def test_map_attribute_smuggling_dunder_is_critical() -> None:
    assert _worst("{{ messages|map(attribute='__class__')|list }}") == Severity.CRITICAL


def test_python_internal_attribute_is_high() -> None:
    assert ("TEMPLATE-INTERNAL-001", Severity.HIGH) in _scan("{{ x.gi_frame.f_back }}")


def test_os_popen_string_is_high() -> None:
    assert ("TEMPLATE-STRING-001", Severity.HIGH) in _scan("{{ x.get('os.popen') }}")


def test_import_statement_is_high() -> None:
    assert ("TEMPLATE-INCLUDE-001", Severity.HIGH) in _scan("{% import 'os' as os %}{{ os }}")


def test_unlisted_filter_is_medium() -> None:
    assert _scan("{{ messages|pprint }}") == [("TEMPLATE-UNLISTED-001", Severity.MEDIUM)]


def test_unlisted_method_is_medium() -> None:
    assert _scan("{{ messages.clear() }}") == [("TEMPLATE-UNLISTED-001", Severity.MEDIUM)]


def test_unparseable_template_fails_closed() -> None:
    assert _scan("{% for x in %}") == [("TEMPLATE-PARSE-001", Severity.MEDIUM)]


def test_deeply_nested_template_does_not_crash() -> None:
    found = _scan("{{ " + "(" * 5000 + "1" + ")" * 5000 + " }}")
    assert found and all(rule == "TEMPLATE-PARSE-001" for rule, _ in found)


def test_call_to_undefined_function_is_medium_but_own_macros_are_fine() -> None:
    assert _scan("{{ fetch('x') }}") == [("TEMPLATE-UNLISTED-001", Severity.MEDIUM)]
    assert _scan("{% macro fetch(x) %}{{ x }}{% endmacro %}{{ fetch('x') }}") == []


def test_dunder_spread_over_set_assignments_is_critical(tmp_path: Path) -> None:
    # Red-team find: each piece is harmless; only the bindings together make __init__.__globals__.
    marker = tmp_path / "rendered"
    source = (
        "{% set u = ['_','_']|join %}{% set k1 = [u,'init',u]|join %}{% set k2 = [u,'globals',u]|join %}"
        "{% set o = ['o','s']|join %}{% set p = ['po','pen']|join %}"
        f"{{% set c = ['touch ', '{marker}']|join %}}{{% set r = ['re','ad']|join %}}"
        "{% for m in messages %}{{ m['content'] }}{% endfor %}"
        "{{ namespace[k1][k2][o][p](c)[r]() }}"
    )
    assert _worst(source) == Severity.CRITICAL
    assert not marker.exists()
    # proof that the template is live under an unsandboxed renderer (as in CVE-2024-34359)
    proof = run_python(
        "import jinja2, sys; jinja2.Environment().from_string(sys.argv[1]).render(messages=[])",
        args=(source,),
    )
    assert marker.exists(), proof.stderr


def test_subscripting_a_global_callable_is_high() -> None:
    assert _worst("{% set k = messages[0]['role'] %}{{ namespace[k] }}") == Severity.HIGH
