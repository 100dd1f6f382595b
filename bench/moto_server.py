"""local.aws (our moto server) for benches, optionally without moto's O(table) transactions.

moto 5.2.5 backs up every table a TransactWriteItems touches with `copy.deepcopy(table)`
before applying it, so one transaction costs time proportional to the table sizes: measured
here ~4 ms on empty tables, ~35 ms at 1,000 items, ~0.6 s at 10,000 and ~1.7 s at 20,000.
A licence charge runs two transactions (payments+invoices, then payments+invoices+stores),
so on stock moto a 10,000-store run does well under one charge per second however fast the
provider is: the emulator, not the code or the provider, would be what is measured.

`--fast-transactions` keeps moto's transaction semantics (all or nothing, conditions,
cancellation reasons) but backs up only the items the transaction names: a shallow copy of
the table's item map with deep copies of those items. That is enough for a correct rollback
because local.aws serializes every DynamoDB write, so nothing else changes the table while a
transaction runs. (Stream records written by a cancelled transaction are not rolled back;
no table of ours has a stream.) Without the flag this is exactly `python -m local.aws`.

Run: python bench/moto_server.py --port 5000 [--fast-transactions]
"""

from __future__ import annotations

import argparse
import copy
import functools
import sys
import threading
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

_touched = threading.local()


def _light_clone(table: Any, hashes: list[Any]) -> Any:
    clone = copy.copy(table)
    items = table.items.copy()  # the defaultdict keeps its factory
    for hash_value in hashes:
        if hash_value in items:
            items[hash_value] = copy.deepcopy(items[hash_value])
    clone.items = items
    return clone


class _CopyShim:
    """Stands in for the `copy` module inside moto.dynamodb.models only."""

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)

    @staticmethod
    def deepcopy(obj: Any, memo: Any = None) -> Any:
        from moto.dynamodb.models.table import Table

        plan: dict[str, list[Any]] | None = getattr(_touched, "plan", None)
        if plan is not None and isinstance(obj, Table) and obj.name in plan:
            return _light_clone(obj, plan[obj.name])
        return copy.deepcopy(obj, memo)


def _plan(backend: Any, transact_items: list[dict[str, Any]]) -> dict[str, list[Any]]:
    from moto.dynamodb.models.dynamo_type import DynamoType

    plan: dict[str, list[Any]] = {}
    for item in transact_items:
        op_type, op = next(iter(item.items()))
        table = backend.tables.get(op.get("TableName"))
        if table is None:
            continue
        source = op["Item"] if op_type == "Put" else op.get("Key", {})
        if table.hash_key_attr in source:
            plan.setdefault(table.name, []).append(DynamoType(source[table.hash_key_attr]))
    return plan


def fast_transactions() -> None:
    import moto.dynamodb.models as models
    from moto.dynamodb.models import DynamoDBBackend

    models.copy = _CopyShim()  # type: ignore[assignment]
    original = DynamoDBBackend.transact_write_items

    @functools.wraps(original)
    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        _touched.plan = _plan(self, transact_items)
        try:
            return original(self, transact_items)
        finally:
            _touched.plan = None

    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


def main() -> None:
    parser = argparse.ArgumentParser(description="local.aws for benches")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mail-from", default="portal@sides.example")
    parser.add_argument("--fast-transactions", action="store_true")
    args = parser.parse_args()
    if args.fast_transactions:
        fast_transactions()
    from local.aws import serve

    serve(args.port, args.mail_from)  # adds local.aws's own patches (write lock, Cognito)


if __name__ == "__main__":
    main()
