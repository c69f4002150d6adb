"""The suite's own shape: no test module imports another test module or conftest.py; what
tests share lives in tests/helpers/, which imports no test module either. Read from the
source with ast, so an import inside a function counts too."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent
TEST_MODULES = {path.stem for path in TESTS.glob("test_*.py")} | {"conftest"}


def imported_modules(path: Path) -> set[str]:
    """Every top-level module name `path` imports, at module level or inside functions."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_the_scan_sees_imports_at_module_level_and_inside_functions(tmp_path: Path) -> None:
    source = tmp_path / "test_example.py"
    source.write_text(
        "import os.path\nfrom test_other import x\n\ndef f():\n    import conftest\n    from . import y\n"
    )
    assert imported_modules(source) == {"os", "test_other", "conftest"}


def test_no_test_module_imports_another_test_module_or_conftest() -> None:
    sources = sorted([*TESTS.glob("test_*.py"), TESTS / "conftest.py", *(TESTS / "helpers").glob("*.py")])
    assert len(sources) > 40  # the scan sees the suite (45+ modules), not an empty folder
    offenders = {str(path.relative_to(TESTS)): sorted(imported_modules(path) & TEST_MODULES) for path in sources}
    assert {path: names for path, names in offenders.items() if names} == {}
