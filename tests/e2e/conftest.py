import pytest


@pytest.fixture(autouse=True)
def _empty_tables(clean_database: None) -> None:
    """End-to-end tests share one database; each starts from empty tables."""
