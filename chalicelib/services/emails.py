"""German e-mail texts (informal du, as the portal speaks)."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from chalicelib.services.ports import Mail

BERLIN = ZoneInfo("Europe/Berlin")


def _local(moment: datetime) -> str:
    return moment.astimezone(BERLIN).strftime("%d.%m.%Y um %H:%M Uhr")


def invitation_mail(to: str, store_name: str, url: str, expires_at: datetime) -> Mail:
    text = (
        "Hallo,\n\n"
        f"du wurdest zum SIDES Kundenportal für „{store_name}“ eingeladen. Dort siehst du alle "
        "Rechnungen deines Kassensystems, lädst sie als PDF herunter und bezahlst offene "
        "Rechnungen per Kreditkarte oder PayPal.\n\n"
        "Klicke auf „Einladung annehmen“ und lege dein Passwort fest:\n"
        f"{url}\n\n"
        f"Der Link gilt bis zum {_local(expires_at)} und nur für diese E-Mail-Adresse ({to}).\n\n"
        "Viele Grüße\ndein SIDES Team\n"
    )
    return Mail(to=to, subject="Deine Einladung zum SIDES Kundenportal", text=text)


def support_copy_mail(
    to: str, store_name: str, reply_to: str, subject: str, message: str, invoice_number: str | None
) -> Mail:
    about = f"Rechnung: {invoice_number}\n" if invoice_number else ""
    text = (
        f"Neue Support-Anfrage von „{store_name}“ ({reply_to})\n"
        f"{about}\nBetreff: {subject}\n\n{message}\n"
    )
    return Mail(to=to, subject=f"[Support] {store_name}: {subject}", text=text)


def support_confirmation_mail(to: str, subject: str, message: str) -> Mail:
    text = (
        "Hallo,\n\n"
        "danke für deine Nachricht. Wir haben sie erhalten und melden uns so schnell "
        "wie möglich.\n\n"
        f"Betreff: {subject}\n\n{message}\n\n"
        "Viele Grüße\ndein SIDES Support\n"
    )
    return Mail(to=to, subject=f"Deine Anfrage: {subject}", text=text)


def receipt_mail(to: str, invoice: Any, amount_cents: int, paid_at: datetime) -> Mail:
    from chalicelib.domain.money import format_eur

    text = (
        "Hallo,\n\n"
        f"danke für deine Zahlung von {format_eur(amount_cents)} für die Rechnung "
        f"{invoice.number}. Sie ist am {_local(paid_at)} bei uns eingegangen; die Rechnung ist "
        "damit bezahlt.\n\n"
        "Du findest sie jederzeit im Kundenportal.\n\n"
        "Viele Grüße\ndein SIDES Team\n"
    )
    return Mail(to=to, subject=f"Zahlung erhalten – Rechnung {invoice.number}", text=text)
