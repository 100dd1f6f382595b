"""The stores as the monthly run reads them: a scan that projects the four attributes it
decides on, so listing 100,000 stores deserializes no addresses, cards or open items."""

from __future__ import annotations

from collections.abc import Iterator

from chalicelib.adapters.dynamo_models import StoreRecord
from chalicelib.services.ports import BillingCandidate

ATTRIBUTES = ["store_id", "monthly_fee_cents", "created_at", "closed_at"]


class DynamoStoreDirectory:
    """StoreDirectory on DynamoDB."""

    def billing_candidates(self) -> Iterator[BillingCandidate]:
        for record in StoreRecord.scan(attributes_to_get=ATTRIBUTES):
            yield BillingCandidate(
                store_id=record.store_id,
                monthly_fee_cents=int(record.monthly_fee_cents),
                created_at=record.created_at,
                closed_at=record.closed_at,
            )
