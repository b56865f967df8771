"""Size limits of the source: no module over 400 lines and no function over 80, unless a
``# size:`` comment says why (a module: at its top level; a function: right above its ``def``
or decorators). The limit is a prompt to split, not a law; the comment is where the reason
lives, so a reviewer can disagree with it."""

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


def oversized(root: Path = SRC) -> list[str]:
    out = []
    for path in sorted(root.rglob("*.py")):
        text = path.read_text()
        lines = text.splitlines()
        rel = path.relative_to(root.parent)
        if len(lines) > MODULE_LIMIT and not any(ln.startswith(MARK) for ln in lines):
            out.append(f"{rel}: {len(lines)} lines > {MODULE_LIMIT}")
        for node in ast.walk(ast.parse(text)):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            if length > FUNCTION_LIMIT and not _comment_above(lines, first):
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
