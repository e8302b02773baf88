"""Repository-level analysis of a Hugging Face model folder: how its files relate.

A loader does not read files in isolation: ``config.json`` ``auto_map`` names Python modules
that ``trust_remote_code`` imports, ``model_file`` makes mlx-lm import Python without asking
(CVE-2026-5843), ``tokenizer_config.json`` carries a chat template that servers render, and a
sharded index decides which bytes become which tensor. This analyzer resolves those references
to files, analyzes the Python (``pysource``, ``ast`` only) and templates (``jinja``, parse only),
checks the shard index against the shard headers the safetensors analyzer already parsed
(``context.facts``; no header is read twice), flags files a loader would pick up that do not
belong, and collects the facts the AI-BOM needs (architecture, parameters, license, ...).
"""

from __future__ import annotations

import ast
import json
import os
import posixpath
from collections.abc import Mapping
from typing import Any

from scanner.formats.interface import Analysis, Context, TreeAnalyzer
from scanner.model import FactValue, Finding, Location
from scanner.sources.interface import Node, Tree

_MARKERS = ("config.json", "tokenizer_config.json", "model_index.json", "adapter_config.json")
_LFS_POINTER = b"version https://git-lfs.github.com/spec/"
_PICKLE_WEIGHTS = (".bin", ".pt", ".pth", ".ckpt", ".pkl", ".pickle")
_EXEC_MAGIC = {
    b"\x7fELF": "ELF",
    b"MZ": "PE",
    b"\xfe\xed\xfa\xce": "Mach-O",
    b"\xfe\xed\xfa\xcf": "Mach-O",
    b"\xce\xfa\xed\xfe": "Mach-O",
    b"\xcf\xfa\xed\xfe": "Mach-O",
    b"\xca\xfe\xba\xbe": "Mach-O",
}
_CONFIG_FACTS = (
    "model_type",
    "torch_dtype",
    "dtype",
    "max_position_embeddings",
    "hidden_size",
    "num_hidden_layers",
    "vocab_size",
    "transformers_version",
)
#: JSON files (besides *config*.json) that make a library import Python from the folder
_CODE_INDEXES = ("chat_template.json", "model_index.json", "modules.json")
#: libraries a diffusers model_index.json / sentence-transformers modules.json may name without custom code
_KNOWN_LIBRARIES = (
    "diffusers",
    "transformers",
    "sentence_transformers",
    "peft",
    "onnxruntime",
    "torch",
    "timm",
)


class HFRepoAnalyzer(TreeAnalyzer):
    def analyze_tree(self, tree: Tree, formats: Mapping[str, str], context: Context) -> Analysis:
        nodes = {n.artifact.path: n for n in tree.nodes if "!" not in n.artifact.path}
        run = _Run(tree, nodes, formats, context)
        run.files()
        repos: dict[str, FactValue] = {}
        for folder in sorted({posixpath.dirname(p) for p in nodes if posixpath.basename(p) in _MARKERS}):
            repos[folder or "."] = run.repo(folder)
        for path in sorted(p for p in nodes if p.endswith(".safetensors.index.json")):
            run.shard_index(path)
        for path in sorted(p for p in nodes if p.endswith(".py")):
            run.python(path)
        facts: dict[str, FactValue] = {}
        root = repos.pop(".", None)
        if isinstance(root, dict):
            facts.update(root)
        if repos:
            facts["subfolders"] = repos
        return Analysis(findings=tuple(run.found), facts=facts)


class _Run:
    def __init__(self, tree: Tree, nodes: dict[str, Node], formats: Mapping[str, str], context: Context):
        self.tree, self.nodes, self.formats, self.context = tree, nodes, formats, context
        self.found: list[Finding] = []
        self.remote: set[str] = set()
        self._texts: dict[str, str | None] = {}

    def add(
        self,
        rule: str,
        path: str,
        msg: str,
        evidence: str | None = None,
        pointer: str | None = None,
        reference: str | None = None,
    ) -> None:
        where = Location(pointer=pointer)
        self.found.append(
            self.context.finding(rule, path, msg, location=where, evidence=evidence, reference=reference)
        )

    # -- reading ---------------------------------------------------------------------------
    def text(self, path: str) -> str | None:
        """The file decoded, read once per scan however many checks consult it."""
        if path not in self._texts:
            self._texts[path] = self._read_text(path)
        return self._texts[path]

    def _read_text(self, path: str) -> str | None:
        node = self.nodes.get(path)
        if node is None:
            return None
        limit = self.context.limits.max_text
        if node.blob.size > limit:
            self.add(
                "SCAN-LIMIT-001",
                path,
                f"This file is larger than the {limit}-byte text limit and was not inspected.",
            )
            return None
        return node.blob.read_at(0, node.blob.size).decode("utf-8", "replace")

    def json(self, path: str) -> Any:
        text = self.text(path)
        if text is None:
            return None
        try:
            return json.loads(text)
        except (ValueError, RecursionError) as exc:
            self.add(
                "REPO-CONFIG-001",
                path,
                "This configuration file is not valid JSON, "
                "so the code and templates it names were not resolved.",
                str(exc)[:200],
            )
            return None

    # -- whole-tree checks -----------------------------------------------------------------
    def files(self) -> None:
        local = self.tree.local_dir
        for path, node in sorted(self.nodes.items()):
            fmt = self.formats.get(path, node.artifact.format)
            if fmt == "symlink" and local:
                self.symlink(path, local)
            elif fmt in ("unknown", "text") and node.blob.size >= 4:
                head = node.blob.read_at(0, 4)
                kind = next((k for magic, k in _EXEC_MAGIC.items() if head.startswith(magic)), None)
                if kind and (kind != "PE" or self._is_pe(node)):
                    self.add(
                        "REPO-EXEC-001",
                        path,
                        f"An {kind} executable sits in the model folder; nothing a model loader "
                        "needs is native code.",
                        evidence=f"magic {head.hex()}",
                    )
                elif head == b"vers" and node.blob.read_at(0, 40).startswith(_LFS_POINTER):
                    self.add(
                        "REPO-LFS-001",
                        path,
                        "This file is a Git LFS pointer, not the "
                        "file itself; the real content was never fetched, so it was not scanned.",
                        evidence=node.blob.read_at(0, 200)
                        .decode("utf-8", "replace")
                        .replace("\n", " ")[:200],
                    )
                elif head.startswith(b"#!") and not path.endswith(".py"):  # .py files get pysource
                    line = node.blob.read_at(0, 120).split(b"\n", 1)[0].decode("utf-8", "replace")
                    self.add(
                        "REPO-EXEC-002",
                        path,
                        "A script with an interpreter line sits in the model folder.",
                        evidence=line,
                    )
        for folder in sorted({posixpath.dirname(p) for p in self.nodes}):
            siblings = [p for p in self.nodes if posixpath.dirname(p) == folder]
            if not any(self.formats.get(p) == "safetensors" for p in siblings):
                continue
            for p in siblings:
                if p.lower().endswith(_PICKLE_WEIGHTS) and self.formats.get(p) not in (
                    "safetensors",
                    "text",
                    "json",
                ):
                    self.add(
                        "REPO-STRAY-001",
                        p,
                        "Pickle-based weights sit beside safetensors "
                        "weights; older loaders or use_safetensors=False load these instead.",
                    )

    def _is_pe(self, node: Node) -> bool:
        head = node.blob.read_at(0, 64)
        if len(head) < 64:
            return False
        pe_at = int.from_bytes(head[60:64], "little")
        return 0 < pe_at < node.blob.size and node.blob.read_at(pe_at, 4) == b"PE\0\0"

    def symlink(self, path: str, local: str) -> None:
        full = os.path.join(local, path)
        try:
            target = os.readlink(full)
        except OSError:
            return
        resolved = os.path.realpath(os.path.join(os.path.dirname(full), target))
        root = os.path.realpath(local)
        if os.path.commonpath([resolved, root]) != root:
            self.add(
                "REPO-SYMLINK-001",
                path,
                "This symbolic link points outside the model "
                "folder; a loader following it reads a file the scan never saw.",
                evidence=f"-> {target}",
            )

    # -- one repo folder -------------------------------------------------------------------
    def repo(self, folder: str) -> dict[str, FactValue]:
        # The analyzers of templates, model cards and code are imported where a folder has
        # them: jinja2, PyYAML and the Python-source rules cost a single-file scan its start-up.
        from scanner.formats.jinja import analyze_template, template_sha256
        from scanner.formats.modelcard import card_facts

        facts: dict[str, FactValue] = {}
        join = (lambda name: posixpath.join(folder, name)) if folder else (lambda name: name)
        config = self.json(join("config.json")) if join("config.json") in self.nodes else None
        if isinstance(config, dict):
            self.config_facts(config, facts)
            self.model_file(folder, join("config.json"), config)
        for path in sorted(p for p in self.nodes if posixpath.dirname(p) == folder and p.endswith(".json")):
            wanted = "config" in posixpath.basename(path) or posixpath.basename(path) in _CODE_INDEXES
            doc = config if path == join("config.json") else (self.json(path) if wanted else None)
            for pointer, rel, ref in self.library_code(folder, path, doc):
                self.require_code(folder, path, pointer, rel, ref)
            if isinstance(doc, dict):
                self.code_references(folder, path, doc)
                self.templates_in_json(path, doc, facts)
        for path in sorted(self.nodes):
            if posixpath.dirname(path) in (folder, join("additional_chat_templates")) and path.endswith(
                ".jinja"
            ):
                text = self.text(path)
                if text is not None:
                    self.found.extend(analyze_template(text, path, None, self.context.rules))
                    facts.setdefault("chat_template_sha256", template_sha256(text))
        self.weights_facts(folder, facts)
        if join("README.md") in self.nodes:
            facts.update(card_facts(self.text(join("README.md")) or ""))
        remote = sorted(p for p in self.remote if posixpath.dirname(p) == folder)
        if remote:
            facts["remote_code"] = list(remote)
        return facts

    def config_facts(self, config: dict[str, Any], facts: dict[str, FactValue]) -> None:
        archs = config.get("architectures")
        if isinstance(archs, list) and archs:
            facts["architecture"] = str(archs[0])
            facts["architectures"] = [str(a) for a in archs]
        for key in _CONFIG_FACTS:
            value = config.get(key)
            if isinstance(value, (str, int, float)) and not isinstance(value, bool):
                facts[key] = value
        if "max_position_embeddings" in facts:
            facts["context_length"] = facts["max_position_embeddings"]
        quant = config.get("quantization_config")
        if isinstance(quant, dict):
            facts["quantization"] = str(quant.get("quant_method", "unknown"))

    def code_references(self, folder: str, path: str, doc: dict[str, Any]) -> None:
        refs: list[tuple[str, str]] = []
        auto_map = doc.get("auto_map")
        if isinstance(auto_map, dict):
            for key, value in auto_map.items():
                for item in value if isinstance(value, list) else [value]:
                    if isinstance(item, str):
                        refs.append((f"/auto_map/{key}", item))
        pipelines = doc.get("custom_pipelines")
        if isinstance(pipelines, dict):
            for task, spec in pipelines.items():
                if isinstance(spec, dict) and isinstance(spec.get("impl"), str):
                    refs.append((f"/custom_pipelines/{task}/impl", spec["impl"]))
        for pointer, ref in refs:
            if "--" in ref:
                self.add(
                    "REMOTE-CODE-003",
                    path,
                    "auto_map loads code from another repository "
                    "at load time; that code is not in this folder and was not inspected.",
                    ref,
                    pointer,
                )
                continue
            module = ref.rsplit(".", 1)[0] if "." in ref else ref
            self.require_code(folder, path, pointer, module.replace(".", "/") + ".py", ref)

    def library_code(self, folder: str, path: str, doc: object) -> list[tuple[str, str, str]]:
        """Custom components of a diffusers ``model_index.json`` (``"unet": ["my_unet", "MyUNet"]``
        loads ``unet/my_unet.py``) and custom modules of a sentence-transformers ``modules.json``."""
        out: list[tuple[str, str, str]] = []
        base = posixpath.basename(path)
        if base == "model_index.json" and isinstance(doc, dict):
            for key, value in doc.items():
                if not (isinstance(value, list) and len(value) == 2 and isinstance(value[0], str)):
                    continue
                lib = value[0]
                if lib.split(".")[0] in _KNOWN_LIBRARIES:
                    continue
                module = lib.replace(".", "/") + ".py"
                sub = posixpath.join(key, module) if key != "_class_name" else module
                rel = sub if posixpath.normpath(posixpath.join(folder, sub)) in self.nodes else module
                out.append((f"/{key}", rel, f"{lib}.{value[1]}"))
        elif base == "modules.json" and isinstance(doc, list):
            for i, entry in enumerate(doc):
                kind = entry.get("type") if isinstance(entry, dict) else None
                if not isinstance(kind, str) or kind.split(".")[0] in _KNOWN_LIBRARIES or "." not in kind:
                    continue
                module = kind.rsplit(".", 1)[0].replace(".", "/") + ".py"
                sub = posixpath.join(str(entry.get("path", "")), module)
                rel = sub if posixpath.normpath(posixpath.join(folder, sub)) in self.nodes else module
                out.append((f"/{i}/type", rel, kind))
        return out

    def model_file(self, folder: str, path: str, config: dict[str, Any]) -> None:
        name = config.get("model_file")
        if isinstance(name, str):
            self.add(
                "REMOTE-CODE-004",
                path,
                "`model_file` names Python that mlx-lm imports without trust_remote_code.",
                name,
                "/model_file",
                "CVE-2026-5843",
            )
            self.require_code(
                folder, path, "/model_file", name if name.endswith(".py") else name + ".py", name
            )

    def require_code(self, folder: str, path: str, pointer: str, rel: str, ref: str) -> None:
        target = posixpath.normpath(posixpath.join(folder, rel))
        if target not in self.nodes:
            self.add(
                "REMOTE-CODE-002",
                path,
                f"Code named by {pointer} ({rel}) is not in the "
                "folder; what a loader would run was not inspected.",
                ref,
                pointer,
            )
            return
        for module in self.closure(target):
            if module not in self.remote:
                self.remote.add(module)
                self.add(
                    "REMOTE-CODE-001",
                    module,
                    "This Python file runs when the model is loaded with trust_remote_code=True.",
                    f"{pointer}: {ref}" if module == target else f"imported by {target}",
                    reference="https://huggingface.co/docs/transformers/custom_models",
                )

    def closure(self, start: str) -> list[str]:
        """``start`` and the sibling modules it imports relatively (transformers copies those too)."""
        seen, todo = [start], [start]
        while todo:
            text = self.text(todo.pop())
            try:
                tree = ast.parse(text or "")
            except (SyntaxError, ValueError, RecursionError, MemoryError):
                continue
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
                    rel = posixpath.join(posixpath.dirname(start), node.module.replace(".", "/") + ".py")
                    if rel in self.nodes and rel not in seen:
                        seen.append(rel)
                        todo.append(rel)
        return seen

    def templates_in_json(self, path: str, doc: dict[str, Any], facts: dict[str, FactValue]) -> None:
        from scanner.formats.jinja import analyze_template, template_sha256

        template = doc.get("chat_template")
        items: list[tuple[str, str]] = []
        if isinstance(template, str):
            items.append(("/chat_template", template))
        elif isinstance(template, list):
            for i, entry in enumerate(template):
                if isinstance(entry, dict) and isinstance(entry.get("template"), str):
                    items.append((f"/chat_template/{i}/template", entry["template"]))
        for pointer, source in items:
            self.found.extend(analyze_template(source, path, pointer, self.context.rules))
            facts.setdefault("chat_template_sha256", template_sha256(source))

    def weights_facts(self, folder: str, facts: dict[str, FactValue]) -> None:
        files = [
            p for p in self.nodes if posixpath.dirname(p) == folder and self.formats.get(p) == "safetensors"
        ]
        index = next(
            (
                p
                for p in sorted(self.nodes)
                if posixpath.dirname(p) == folder and p.endswith(".safetensors.index.json")
            ),
            None,
        )
        doc = self.json(index) if index else None
        from scanner.formats import shards

        facts.update(shards.weights_facts(folder, doc, files, self.context.facts))

    def shard_index(self, path: str) -> None:
        from scanner.formats.shards import check_index

        doc = self.json(path)
        if doc is not None:
            self.found.extend(check_index(path, doc, self.nodes, self.context))

    # -- python ----------------------------------------------------------------------------
    def python(self, path: str) -> None:
        from scanner.formats import pysource

        text = self.text(path)
        if text is not None:
            self.found.extend(pysource.analyze_source(text, path, self.context.rules))


TREE_ANALYZER = HFRepoAnalyzer()
