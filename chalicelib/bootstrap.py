"""Composition root: builds each adapter once per container, lazily, on first use."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from chalicelib.config import Settings, get_settings

if TYPE_CHECKING:
    from chalicelib.services.account import AccountRepository, AccountService
    from chalicelib.services.activity import ActivityLog, ActivityReader, ActivityRecorder
    from chalicelib.services.auth import AuthService
    from chalicelib.services.billing import BillingService
    from chalicelib.services.charging import ChargeService
    from chalicelib.services.corrections import CorrectionRenderer, CorrectionService
    from chalicelib.services.cursors import CursorCodec
    from chalicelib.services.documents import DocumentReader
    from chalicelib.services.dunning import DunningService
    from chalicelib.services.edge import OriginCheck
    from chalicelib.services.exports import DocumentExport, ExportStore
    from chalicelib.services.follow_ups import FollowUps, ReceiptIssuer
    from chalicelib.services.invitations import InvitationService
    from chalicelib.services.invoices import InvoiceIssuer, InvoiceReader
    from chalicelib.services.payment_methods import PaymentMethodService
    from chalicelib.services.payments import PaymentService
    from chalicelib.services.ports import (
        CardProvider,
        CardVault,
        ChargeQueue,
        Clock,
        DocumentRepository,
        DocumentStore,
        EInvoiceRenderer,
        EventPublisher,
        InvitationRepository,
        InvoiceRepository,
        IssueQueue,
        Mailer,
        MembershipRepository,
        Metrics,
        PaymentLedger,
        PaymentProvider,
        PdfRenderer,
        ProcessedEvents,
        RateLimiter,
        ReceiptRenderer,
        Secrets,
        StoreDirectory,
        StoreRepository,
        SupportRepository,
        TokenVerifier,
        UserDirectory,
    )
    from chalicelib.services.providers import ProviderRegistry
    from chalicelib.services.settlement import Settlement
    from chalicelib.services.stores import StoreService
    from chalicelib.services.support import SupportService
    from chalicelib.services.webhooks import WebhookService

cached = functools.cached_property


class Container:
    """The object graph. Tests pass fakes as keyword overrides of any attribute."""

    def __init__(self, settings: Settings, **overrides: Any) -> None:
        self.settings = settings
        self.__dict__.update(overrides)

    def _client(self, service: str) -> Any:
        import boto3

        from chalicelib.adapters.timeouts import aws_config

        session: Any = boto3.session.Session()
        return session.client(service, region_name=self.settings.region, config=aws_config())

    # adapters -----------------------------------------------------------------------
    @cached
    def clock(self) -> Clock:
        from chalicelib.adapters.system import SystemClock

        return SystemClock()

    @cached
    def secrets(self) -> Secrets:
        from chalicelib.adapters.system import SecretsManagerSecrets

        return SecretsManagerSecrets()

    @cached
    def origin_check(self) -> OriginCheck:
        from chalicelib.adapters.system import SecretsManagerSecrets
        from chalicelib.services.edge import OriginCheck

        # The check keeps the values itself (and re-reads on an unknown value after a
        # rotation), so its secrets client does not cache.
        return OriginCheck(SecretsManagerSecrets(max_age_s=0), self.settings.origin_secret_name)

    @cached
    def stores(self) -> StoreRepository:
        from chalicelib.adapters.dynamo_stores import DynamoStoreRepository

        return DynamoStoreRepository()

    @cached
    def store_directory(self) -> StoreDirectory:
        from chalicelib.adapters.dynamo_directory import DynamoStoreDirectory

        return DynamoStoreDirectory()

    @cached
    def memberships(self) -> MembershipRepository:
        from chalicelib.adapters.dynamo_stores import DynamoMembershipRepository

        return DynamoMembershipRepository()

    @cached
    def invitations(self) -> InvitationRepository:
        from chalicelib.adapters.dynamo_invitations import DynamoInvitationRepository

        return DynamoInvitationRepository()

    @cached
    def invoices(self) -> InvoiceRepository:
        from chalicelib.adapters.dynamo_invoices import DynamoInvoiceRepository

        return DynamoInvoiceRepository()

    @cached
    def support_requests(self) -> SupportRepository:
        from chalicelib.adapters.dynamo_misc import DynamoSupportRepository

        return DynamoSupportRepository()

    @cached
    def limiter(self) -> RateLimiter:
        from chalicelib.adapters.dynamo_misc import DynamoRateLimiter

        return DynamoRateLimiter()

    @cached
    def users(self) -> UserDirectory:
        from chalicelib.adapters.cognito import CognitoUserDirectory

        return CognitoUserDirectory(
            self._client("cognito-idp"),
            self.settings.user_pool_id,
            self.settings.user_pool_client_id,
        )

    @cached
    def verifier(self) -> TokenVerifier:
        from chalicelib.adapters.jwt_verifier import CognitoTokenVerifier

        return CognitoTokenVerifier(
            self.settings.jwks_url, self.settings.cognito_issuer, self.settings.user_pool_client_id
        )

    @cached
    def documents(self) -> DocumentStore:
        import boto3

        from chalicelib.adapters.s3_documents import S3DocumentStore
        from chalicelib.adapters.timeouts import aws_config

        client = boto3.session.Session().client(
            "s3", region_name=self.settings.region, config=aws_config(signature_version="s3v4")
        )
        archive = S3DocumentStore(client, self.settings.invoice_bucket)
        # Every newly archived document also goes to the store's accountant (if any).
        from chalicelib.services.forwarding import Forwarding, ForwardingDocumentStore

        return ForwardingDocumentStore(
            archive,
            lambda: Forwarding(
                self.stores, self.document_records, self.mailer, self.activity_log, self.clock
            ),
        )

    @cached
    def mailer(self) -> Mailer:
        from chalicelib.adapters.ses_mailer import SesMailer

        return SesMailer(self._client("ses"), self.settings.mail_from, self.clock)

    @cached
    def render_pdf(self) -> PdfRenderer:
        # Only the operator side and billing functions render; the API never gets here.
        from chalicelib.adapters.invoice_pdf import render_invoice_pdf

        return render_invoice_pdf

    @cached
    def render_einvoice(self) -> EInvoiceRenderer:
        # Hybrid PDF and XRechnung: like render_pdf, never reached from the API.
        from chalicelib.adapters.einvoice import render_einvoice

        return render_einvoice

    @cached
    def metrics(self) -> Metrics:
        import os

        from chalicelib.adapters.emf_metrics import EmfMetrics

        service = os.environ.get("POWERTOOLS_SERVICE_NAME", "portal")
        return EmfMetrics(namespace="SidesPortal", service=service)

    @cached
    def ledger(self) -> PaymentLedger:
        from chalicelib.adapters.dynamo_payments import DynamoPaymentLedger

        return DynamoPaymentLedger()

    @cached
    def processed_events(self) -> ProcessedEvents:
        from chalicelib.adapters.dynamo_payments import DynamoProcessedEvents

        return DynamoProcessedEvents()

    @cached
    def publisher(self) -> EventPublisher:
        from chalicelib.adapters.eventbridge import EventBridgePublisher
        from chalicelib.services.activity import ActivityPublisher

        # What the events say (paid, failed, refunded, till locked) also goes to the owner's
        # activity log.
        return ActivityPublisher(
            EventBridgePublisher(self._client("events"), self.settings.event_bus_name),
            self.activity_recorder,
        )

    def _secret_json(self, name: str) -> dict[str, str]:
        value: dict[str, str] = json.loads(self.secrets.get(name))
        return value

    @cached
    def cards(self) -> CardProvider:
        from chalicelib.adapters.stripe_gateway import StripeCardGateway

        keys = self._secret_json(self.settings.stripe_secret_name)
        return StripeCardGateway(
            keys["secret_key"], keys["webhook_secret"], api_base=self.settings.stripe_api_base
        )

    @cached
    def paypal(self) -> PaymentProvider:
        from chalicelib.adapters.paypal_gateway import PayPalRestGateway

        keys = self._secret_json(self.settings.paypal_secret_name)
        return PayPalRestGateway(
            base_url=self.settings.paypal_api_base,
            client_id=keys["client_id"],
            client_secret=keys["client_secret"],
            webhook_id=keys["webhook_id"],
        )

    @cached
    def card_vault(self) -> CardVault:
        vault: CardVault = _Deferred(lambda: self.cards, "stripe")
        return vault

    @cached
    def providers(self) -> ProviderRegistry:
        """The registry: payment method → provider. A new provider is one line here. Each
        is built (and its keys read) only when a payment first needs it, so an operator
        command that moves no money works without the providers' secrets."""
        from chalicelib.services.providers import ProviderRegistry

        card: PaymentProvider = _Deferred(lambda: self.cards, "stripe")
        paypal: PaymentProvider = _Deferred(lambda: self.paypal, "paypal")
        return ProviderRegistry({"card": card, "paypal": paypal}, saved_method="card")

    @cached
    def document_records(self) -> DocumentRepository:
        from chalicelib.adapters.dynamo_documents import DynamoDocumentRepository

        return DynamoDocumentRepository()

    @cached
    def render_receipt(self) -> ReceiptRenderer:
        # Only the payment-events function renders receipts; the API never gets here.
        from chalicelib.adapters.receipt_pdf import render_receipt_pdf

        return render_receipt_pdf

    @cached
    def charge_queue(self) -> ChargeQueue:
        from chalicelib.adapters.sqs_queue import SqsChargeQueue

        client = self._client("sqs")
        url = client.get_queue_url(QueueName=f"{self.settings.prefix}-charge-store")["QueueUrl"]
        return SqsChargeQueue(client, url)

    @cached
    def issue_queue(self) -> IssueQueue:
        from chalicelib.adapters.sqs_issue_queue import SqsIssueQueue

        client = self._client("sqs")
        url = client.get_queue_url(QueueName=f"{self.settings.prefix}-issue-store")["QueueUrl"]
        return SqsIssueQueue(client, url)

    @cached
    def cursors(self) -> CursorCodec:
        from chalicelib.services.cursors import CursorCodec

        return CursorCodec(self.secrets.get(self.settings.cursor_secret_name).encode("utf-8"))

    # services -----------------------------------------------------------------------
    @cached
    def auth(self) -> AuthService:
        from chalicelib.services.auth import AuthService

        # Built on first use: a signed-in request only verifies its token and reads the
        # membership, and never needs the Cognito client (≈ 100 ms on a cold container).
        users = _OnFirstUse(lambda: self.users)
        return AuthService(
            users,
            self.verifier,
            self.memberships,
            self.limiter,
            # only a sign-in writes the log (and looks up whose address it was)
            activity=_OnFirstUse(lambda: self.activity_log),
            accounts=_OnFirstUse(lambda: self.accounts),
        )

    # the owner's account ------------------------------------------------------------
    @cached
    def activity_log(self) -> ActivityLog:
        from chalicelib.adapters.dynamo_account import DynamoActivityLog

        return DynamoActivityLog()

    @cached
    def accounts(self) -> AccountRepository:
        from chalicelib.adapters.dynamo_account import DynamoAccountRepository

        return DynamoAccountRepository()

    @cached
    def account_service(self) -> AccountService:
        from chalicelib.services.account import AccountService

        return AccountService(
            stores=self.stores,
            accounts=self.accounts,
            activity=self.activity_log,
            users=self.users,  # type: ignore[arg-type]
            mailer=self.mailer,
            limiter=self.limiter,
            clock=self.clock,
        )

    @cached
    def export_store(self) -> ExportStore:
        from chalicelib.adapters.s3_exports import S3ExportStore

        return S3ExportStore(self.documents._client, self.settings.invoice_bucket)  # type: ignore[attr-defined]

    @cached
    def document_export(self) -> DocumentExport:
        from chalicelib.services.exports import DocumentExport

        return DocumentExport(
            stores=self.stores,
            invoices=self.invoices,
            documents=self.document_records,
            files=self.documents,
            exports=self.export_store,
            clock=self.clock,
        )

    @cached
    def activity_recorder(self) -> ActivityRecorder:
        from chalicelib.services.activity import ActivityRecorder

        return ActivityRecorder(lambda: self.activity_log, lambda: self.clock)

    @cached
    def activity_reader(self) -> ActivityReader:
        from chalicelib.services.activity import ActivityReader

        return ActivityReader(self.activity_log, self.cursors)

    @cached
    def invitation_service(self) -> InvitationService:
        from chalicelib.services.invitations import InvitationService

        return InvitationService(
            invitations=self.invitations,
            stores=self.stores,
            memberships=self.memberships,
            users=self.users,
            mailer=self.mailer,
            clock=self.clock,
            limiter=self.limiter,
            portal_url=self.settings.portal_url,
            ttl=timedelta(days=self.settings.invitation_ttl_days),
        )

    @cached
    def store_service(self) -> StoreService:
        from chalicelib.services.stores import StoreService

        return StoreService(self.stores, self.clock)

    @cached
    def invoice_issuer(self) -> InvoiceIssuer:
        from chalicelib.services.invoices import InvoiceIssuer

        return InvoiceIssuer(
            invoices=self.invoices,
            stores=self.stores,
            documents=self.documents,
            render_pdf=self.render_pdf,
            render_einvoice=self.render_einvoice,
            supplier=self.settings.supplier,
            clock=self.clock,
            metrics=self.metrics,
            mailer=self.mailer,
            portal_url=self.settings.portal_url,
            vat_rates=self.settings.vat_rates,
            max_gross_cents=self.settings.max_invoice_gross_cents,
        )

    @cached
    def invoice_reader(self) -> InvoiceReader:
        from chalicelib.services.invoices import InvoiceReader

        return InvoiceReader(self.invoices, self.documents, self.cursors)

    @cached
    def settlement(self) -> Settlement:
        from chalicelib.services.settlement import Settlement

        return Settlement(
            ledger=self.ledger,
            providers=self.providers,
            stores=self.stores,
            methods=self.payment_methods,
            publisher=self.publisher,
            clock=self.clock,
            metrics=self.metrics,
        )

    @cached
    def payments(self) -> PaymentService:
        from chalicelib.services.payments import PaymentService

        return PaymentService(
            ledger=self.ledger,
            reader=self.invoice_reader,
            providers=self.providers,
            settlement=self.settlement,
            methods=self.payment_methods,
            clock=self.clock,
            portal_url=self.settings.portal_url,
            limiter=self.limiter,
            activity=self.activity_recorder,
        )

    @cached
    def render_correction(self) -> CorrectionRenderer:
        # Only the operator side renders corrections; the API never gets here.
        from chalicelib.adapters.einvoice import render_correction_einvoice

        return render_correction_einvoice

    @cached
    def corrections(self) -> CorrectionService:
        from chalicelib.services.corrections import CorrectionService

        return CorrectionService(
            invoices=self.invoices,
            stores=self.stores,
            ledger=self.ledger,
            providers=self.providers,
            settlement=self.settlement,
            documents=self.document_records,
            files=self.documents,
            render=self.render_correction,
            mailer=self.mailer,
            supplier=self.settings.supplier,
            clock=self.clock,
            portal_url=self.settings.portal_url,
            publisher=self.publisher,
            grace_days=self.settings.dunning_grace_days,
        )

    @cached
    def document_reader(self) -> DocumentReader:
        from chalicelib.services.documents import DocumentReader

        return DocumentReader(self.document_records, self.documents)

    @cached
    def receipts(self) -> ReceiptIssuer:
        from chalicelib.services.follow_ups import ReceiptIssuer

        return ReceiptIssuer(
            documents=self.document_records,
            files=self.documents,
            render=self.render_receipt,
            supplier=self.settings.supplier,
            clock=self.clock,
        )

    @cached
    def follow_ups(self) -> FollowUps:
        from chalicelib.services.follow_ups import FollowUps

        return FollowUps(
            ledger=self.ledger,
            invoices=self.invoices,
            stores=self.stores,
            settlement=self.settlement,
            receipts=self.receipts,
            publisher=self.publisher,
            mailer=self.mailer,
            clock=self.clock,
            grace_days=self.settings.dunning_grace_days,
        )

    @cached
    def payment_methods(self) -> PaymentMethodService:
        from chalicelib.services.payment_methods import PaymentMethodService

        return PaymentMethodService(self.stores, self.card_vault, self.activity_recorder)

    @cached
    def billing(self) -> BillingService:
        from chalicelib.services.billing import BillingService

        return BillingService(
            stores=self.stores,
            directory=self.store_directory,
            issuer=self.invoice_issuer,
            queue=self.issue_queue,
            clock=self.clock,
        )

    @cached
    def charges(self) -> ChargeService:
        from chalicelib.services.charging import ChargeService

        return ChargeService(
            stores=self.stores,
            invoices=self.invoices,
            ledger=self.ledger,
            providers=self.providers,
            settlement=self.settlement,
            methods=self.payment_methods,
            mailer=self.mailer,
            clock=self.clock,
            portal_url=self.settings.portal_url,
        )

    @cached
    def dunning(self) -> DunningService:
        from chalicelib.services.dunning import DunningService

        return DunningService(
            stores=self.stores,
            invoices=self.invoices,
            queue=self.charge_queue,
            publisher=self.publisher,
            mailer=self.mailer,
            clock=self.clock,
            portal_url=self.settings.portal_url,
            ledger=self.ledger,
            settlement=self.settlement,
            grace_days=self.settings.dunning_grace_days,
            metrics=self.metrics,
        )

    @cached
    def webhooks(self) -> WebhookService:
        from chalicelib.services.webhooks import WebhookService

        return WebhookService(self.providers, self.publisher, self.metrics)

    @cached
    def support(self) -> SupportService:
        from chalicelib.services.support import SupportService

        return SupportService(
            requests=self.support_requests,
            stores=self.stores,
            invoices=self.invoice_reader,
            mailer=self.mailer,
            clock=self.clock,
            support_email=self.settings.support_email,
        )


class _OnFirstUse:
    """Stands in for an adapter that is built only when one of its methods is first used."""

    def __init__(self, build: Callable[[], object]) -> None:
        self._build = build

    def __getattr__(self, name: str) -> Any:
        return getattr(self._build(), name)


class _Deferred:
    """Stands in for an adapter until it is first used (its name is known before)."""

    def __init__(self, build: Callable[[], Any], name: str) -> None:
        self._build = build
        self._built: Any = None
        self.name = name

    def __getattr__(self, attribute: str) -> Any:
        if self._built is None:
            self._built = self._build()
        return getattr(self._built, attribute)


@functools.lru_cache(maxsize=1)
def get_container() -> Container:
    return Container(get_settings())


def dependency_unavailable(exc: BaseException) -> bool:
    """True when `exc` means AWS or a provider did not answer in time (answered with 503)."""
    from chalicelib.adapters.timeouts import is_unavailable

    return is_unavailable(exc)
