"""The onion's layering is a tested rule: the import-linter contracts in pyproject.toml."""

from __future__ import annotations

from importlinter.application.use_cases import lint_imports


def test_import_contracts_hold() -> None:
    """Fails when, e.g., the domain imports SQLAlchemy or infrastructure imports interfaces."""
    assert lint_imports(cache_dir=None, no_logo=True) is True
