"""The probe renders a chat template only after the static analysis passes it."""

from __future__ import annotations

from scanner.probes.prompts import _statically_safe


def test_ordinary_chat_template_is_rendered() -> None:
    chatml = (
        "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
        "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
    )
    assert _statically_safe(chatml)
    assert _statically_safe({"default": chatml, "tool_use": chatml})


def test_sandbox_escape_template_is_never_rendered() -> None:
    assert not _statically_safe("{{ cycler.__init__.__globals__.os.popen('true').read() }}")
    assert not _statically_safe({"default": "{{ messages }}", "evil": "{{ ''.__class__ }}"})
    assert not _statically_safe(["not", "a template"])
