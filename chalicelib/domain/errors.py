"""Domain errors; the API maps each to one HTTP status and error code in one table."""

from __future__ import annotations


class PortalError(Exception):
    """Base of every error the portal reports to a caller on purpose."""

    code = "internal_error"
    message = "Ein interner Fehler ist aufgetreten."

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.message)
        if message:
            self.message = message


class InvalidRequestError(PortalError):
    code = "invalid_request"
    message = "Die Anfrage ist ungültig."


class PayloadTooLargeError(PortalError):
    code = "payload_too_large"
    message = "Die Anfrage ist zu groß."


class UnauthorizedError(PortalError):
    code = "unauthorized"
    message = "Bitte melde dich an."


class RateLimitedError(PortalError):
    code = "rate_limited"
    message = "Zu viele Versuche. Bitte warte einen Moment und versuche es dann erneut."


class InvitationNotFoundError(PortalError):
    code = "invitation_not_found"
    message = "Diese Einladung ist ungültig oder wurde bereits verwendet."


class InvitationExpiredError(PortalError):
    code = "invitation_expired"
    message = "Diese Einladung ist abgelaufen. Bitte fordere eine neue an."


class PasswordPolicyError(PortalError):
    code = "password_policy"
    message = "Das Passwort erfüllt die Anforderungen nicht."


class InvalidCredentialsError(PortalError):
    code = "invalid_credentials"
    message = "E-Mail-Adresse oder Passwort ist falsch."


class InvalidCodeError(PortalError):
    code = "invalid_code"
    message = "Der Code ist ungültig oder abgelaufen."


class InvoiceNotFoundError(PortalError):
    code = "invoice_not_found"
    message = "Rechnung nicht gefunden."


class InvalidCursorError(PortalError):
    code = "invalid_cursor"
    message = "Der Seitenzeiger ist ungültig."


class InvoiceNotVoidableError(PortalError):
    code = "invoice_not_voidable"
    message = "Nur offene Rechnungen können storniert werden."


class StoreNotFoundError(PortalError):
    code = "store_not_found"
    message = "Store nicht gefunden."


class EmailInUseError(PortalError):
    code = "email_in_use"
    message = "Diese E-Mail-Adresse gehört bereits zu einem Store."


class ConflictError(PortalError):
    """A conditional write lost a race; callers retry or report."""

    code = "conflict"
    message = "Die Daten wurden gleichzeitig geändert. Bitte versuche es erneut."


class ServiceUnavailableError(PortalError):
    code = "service_unavailable"
    message = "Der Dienst ist gerade nicht erreichbar. Bitte versuche es gleich noch einmal."


class InvoiceNotPayableError(PortalError):
    code = "invoice_not_payable"
    message = "Diese Rechnung kann gerade nicht bezahlt werden."


class InvalidMethodError(PortalError):
    code = "invalid_method"
    message = "Diese Zahlungsart gibt es nicht. Wähle Kreditkarte oder PayPal."


class PaymentNotFoundError(PortalError):
    code = "payment_not_found"
    message = "Zahlung nicht gefunden."


class InvalidSignatureError(PortalError):
    code = "invalid_signature"
    message = "Die Signatur der Benachrichtigung ist ungültig."


class InvalidPayloadError(PortalError):
    code = "invalid_payload"
    message = "Die Benachrichtigung ist nicht lesbar."


class ProviderError(PortalError):
    """The payment provider refused a request for a reason the owner can act on."""

    code = "provider_error"
    message = "Der Zahlungsanbieter hat die Anfrage abgelehnt."


class SetupNotSucceededError(PortalError):
    code = "setup_not_succeeded"
    message = "Die Karte konnte nicht gespeichert werden. Bitte versuche es erneut."


class NoPaymentMethodError(PortalError):
    code = "no_payment_method"
    message = "Hinterlege zuerst eine Karte, dann kannst du die automatische Abbuchung einschalten."


class RouteNotFoundError(PortalError):
    code = "not_found"
    message = "Diese Adresse gibt es nicht."


class DocumentNotFoundError(InvoiceNotFoundError):
    """Answers like a missing invoice (404); another store's document looks the same."""

    code = "document_not_found"
    message = "Dokument nicht gefunden."


class InvoiceNotCreditableError(PortalError):
    code = "invoice_not_creditable"
    message = "Diese Rechnung kann gerade nicht gutgeschrieben werden."
