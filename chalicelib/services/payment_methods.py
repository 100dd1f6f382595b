"""Use cases of the saved card: save through a SetupIntent, remove, switch autopay."""

from __future__ import annotations

import dataclasses

from chalicelib.domain.errors import (
    NoPaymentMethodError,
    SetupNotSucceededError,
    StoreNotFoundError,
)
from chalicelib.domain.stores import Store
from chalicelib.services.activity import ActivityRecorder
from chalicelib.services.ports import CardVault, StoreRepository


@dataclasses.dataclass(frozen=True)
class PaymentMethodService:
    stores: StoreRepository
    cards: CardVault
    activity: ActivityRecorder | None = None  # the owner's activity log (services/activity)

    def _note(self, store_id: str, kind: str, summary: str) -> None:
        if self.activity is not None:
            self.activity.record(store_id, kind, summary)

    def _store(self, store_id: str) -> Store:
        store = self.stores.get(store_id)
        if store is None:
            raise StoreNotFoundError()
        return store

    def customer_of(self, store: Store) -> str:
        if store.card_customer_id:
            return store.card_customer_id
        created = self.cards.ensure_customer(store.id, store.billing_email, store.name)
        return self.stores.set_customer_id(store.id, created)

    def customer_of_id(self, store_id: str) -> str:
        return self.customer_of(self._store(store_id))

    def start_setup(self, store_id: str) -> str:
        store = self._store(store_id)
        return self.cards.create_setup_intent(self.customer_of(store), store.id)

    def confirm_setup(self, store_id: str, setup_intent_id: str) -> Store:
        store = self._store(store_id)
        customer = self.customer_of(store)
        # Only the vault's word counts: the browser's "it worked" is never enough.
        method_id = self.cards.succeeded_setup(setup_intent_id, customer)
        if method_id is None:
            raise SetupNotSucceededError()
        self.save(store, method_id)
        return self._store(store_id)

    def save(self, store: Store, method_id: str) -> None:
        """Keeps the card for the monthly charge: saving a card means paying automatically
        (the owner can switch autopay off again)."""
        customer = self.customer_of(store)
        previous = store.payment_method
        self.stores.set_payment_method(store.id, self.cards.card_details(customer, method_id))
        self.stores.set_autopay(store.id, True)
        if previous is not None and previous.id != method_id:
            self.cards.remove_card(customer, previous.id)
        self._note(store.id, "card_saved", "Karte gespeichert; Autopay ist eingeschaltet.")

    def remove(self, store_id: str) -> Store:
        store = self._store(store_id)
        if store.payment_method is not None:
            # Forget it here first: a crash in between leaves an unused card at the vault,
            # never a saved card that the vault no longer knows.
            self.stores.set_payment_method(store.id, None)
            self.cards.remove_card(self.customer_of(store), store.payment_method.id)
            self._note(store.id, "card_removed", "Karte entfernt; Autopay ist ausgeschaltet.")
        return self._store(store_id)

    def set_autopay(self, store_id: str, enabled: bool) -> Store:
        self._store(store_id)
        if not self.stores.set_autopay(store_id, enabled):
            raise NoPaymentMethodError()
        self._note(
            store_id,
            "autopay_on" if enabled else "autopay_off",
            "Autopay eingeschaltet." if enabled else "Autopay ausgeschaltet.",
        )
        return self._store(store_id)
