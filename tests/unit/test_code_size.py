"""Size limits of the source: no module over 400 lines and no function over 80, unless a
``# size:`` comment says why. A comment exempts only what it stands on: a function's, right
above its ``def`` or decorators (or on the ``def`` line), exempts that function; a module's, at
the top level and standing on no ``def`` or ``class``, exempts the module. The limit is a
prompt to split, not a law; the comment is where the reason lives, so a reviewer can disagree
with it."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "hasuite"
MODULE_LIMIT = 400
FUNCTION_LIMIT = 80
MARK = "# size:"


def _comment_above(lines: list[str], lineno: int) -> bool:
    """A ``# size:`` line in the comment block that ends right above line ``lineno`` (1-based)."""
    i = lineno - 2
    while i >= 0 and lines[i].strip().startswith("#"):
        if lines[i].strip().startswith(MARK):
            return True
        i -= 1
    return False


def _starts_definition(line: str) -> bool:
    return line.startswith(("def ", "async def ", "class ", "@"))


def _module_marked(lines: list[str]) -> bool:
    """A top-level ``# size:`` comment whose block does not stand on a definition."""
    for i, line in enumerate(lines):
        if not line.startswith(MARK):
            continue
        j = i + 1
        while j < len(lines) and lines[j].startswith("#"):
            j += 1
        if j >= len(lines) or not _starts_definition(lines[j]):
            return True
    return False


def _function_marked(lines: list[str], node: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
    return _comment_above(lines, first) or MARK in lines[node.lineno - 1]


def oversized(root: Path = SRC) -> list[str]:
    out = []
    for path in sorted(root.rglob("*.py")):
        text = path.read_text()
        lines = text.splitlines()
        rel = path.relative_to(root.parent)
        if len(lines) > MODULE_LIMIT and not _module_marked(lines):
            out.append(f"{rel}: {len(lines)} lines > {MODULE_LIMIT}")
        for node in ast.walk(ast.parse(text)):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > FUNCTION_LIMIT and not _function_marked(lines, node):
                out.append(f"{rel}:{node.lineno} {node.name}: {length} lines > {FUNCTION_LIMIT}")
    return out


def test_modules_and_functions_over_the_limit_say_why() -> None:
    found = oversized()
    assert not found, (
        "split these, or say why not in a `# size: ...` comment (module: top level; function: "
        "right above it):\n  " + "\n  ".join(found)
    )


def test_the_check_finds_an_unexplained_long_function(tmp_path: Path) -> None:
    pkg = tmp_path / "hasuite"
    pkg.mkdir()
    body = "\n".join(f"    x{i} = {i}" for i in range(FUNCTION_LIMIT))
    (pkg / "long.py").write_text(f"def long():\n{body}\n")
    assert oversized(pkg) == [f"hasuite/long.py:1 long: {FUNCTION_LIMIT + 1} lines > 80"]
    (pkg / "long.py").write_text(f"# size: one table, read top to bottom\ndef long():\n{body}\n")
    assert oversized(pkg) == []
    (pkg / "big.py").write_text("x = 1\n" * (MODULE_LIMIT + 1))
    assert oversized(pkg) == [f"hasuite/big.py: {MODULE_LIMIT + 1} lines > 400"]


def test_a_function_s_reason_does_not_exempt_its_module(tmp_path: Path) -> None:
    """The loophole: a ``# size:`` comment above one function used to exempt the whole module."""
    pkg = tmp_path / "hasuite"
    pkg.mkdir()
    filler = "x = 1\n" * MODULE_LIMIT
    (pkg / "big.py").write_text(f"{filler}# size: one table\ndef f():\n    pass\n")
    assert oversized(pkg) == [f"hasuite/big.py: {MODULE_LIMIT + 3} lines > 400"]
    (pkg / "big.py").write_text(f"{filler}@decorate\n# size: one table\nclass C:\n    pass\n")
    assert oversized(pkg) == [f"hasuite/big.py: {MODULE_LIMIT + 4} lines > 400"]
    (pkg / "big.py").write_text(f"# size: one registry, read top to bottom\n\n{filler}")
    assert oversized(pkg) == []
    # the module's reason sits at the top, above the imports: it stands on no definition
    (pkg / "big.py").write_text(f"# size: one registry\nimport os\n{filler}")
    assert oversized(pkg) == []


def test_a_reason_on_the_def_line_exempts_that_function(tmp_path: Path) -> None:
    pkg = tmp_path / "hasuite"
    pkg.mkdir()
    body = "\n".join(f"    x{i} = {i}" for i in range(FUNCTION_LIMIT))
    (pkg / "long.py").write_text(f"def long(  # size: one sequence\n):\n{body}\n")
    assert oversized(pkg) == []
