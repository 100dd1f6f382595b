"""The payment methods the portal offers and the provider behind each (filled in bootstrap)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

from chalicelib.domain.errors import InvalidMethodError
from chalicelib.services.ports import PaymentProvider


@dataclasses.dataclass(frozen=True)
class ProviderRegistry:
    """method name (as the owner picks it) → the provider that collects it."""

    by_method: Mapping[str, PaymentProvider]
    saved_method: str = "card"  # what a saved payment method is charged through

    @property
    def methods(self) -> tuple[str, ...]:
        return tuple(self.by_method)

    def for_method(self, method: str) -> PaymentProvider:
        provider = self.by_method.get(method)
        if provider is None:
            raise InvalidMethodError()
        return provider

    def named(self, name: str) -> PaymentProvider:
        """The provider of a stored payment (payments remember their provider's name)."""
        for provider in self.by_method.values():
            if provider.name == name:
                return provider
        raise LookupError(f"no payment provider {name!r}")

    def for_saved_methods(self) -> PaymentProvider:
        return self.for_method(self.saved_method)
