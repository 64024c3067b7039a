"""SQL scope tests: the `warehouse` fixture (tests/upstream/sql/warehouse.py) over both dialects."""

from tests.upstream.sql.warehouse import warehouse

__all__ = ["warehouse"]
