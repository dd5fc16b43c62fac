"""No module of the project is over 350 lines: one concept a module, read in one sitting."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIMIT = 350
FOLDERS = ("baselines", "benchmarks", "examples", "studies", "symmflow", "tests")


def test_no_module_is_over_the_size_limit():
    sizes = {path.relative_to(ROOT): len(path.read_text().splitlines())
             for folder in FOLDERS for path in (ROOT / folder).rglob("*.py")}
    assert len(sizes) > 100  # the walk found the project
    over = {str(path): lines for path, lines in sizes.items() if lines > LIMIT}
    assert not over, f"modules over {LIMIT} lines (split them by concept): {over}"
