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


def _amount(invoice: Any) -> str:
    from chalicelib.domain.money import format_eur

    return format_eur(invoice.totals.gross_cents)


def _date(day: Any) -> str:
    return str(day.strftime("%d.%m.%Y"))


def invoice_mail(to: str, invoice: Any, link: str) -> Mail:
    text = (
        "Hallo,\n\n"
        f"deine Rechnung {invoice.number} über {_amount(invoice)} ist da "
        f"(fällig am {_date(invoice.due_date)}).\n\n"
        "Du kannst sie hier ansehen, als PDF laden und per Kreditkarte oder PayPal "
        f"bezahlen:\n{link}\n\n"
        "Tipp: Wenn du im Portal eine Karte hinterlegst, buchen wir die Lizenzgebühr künftig "
        "automatisch ab.\n\nViele Grüße\ndein SIDES Team\n"
    )
    return Mail(to=to, subject=f"Deine Rechnung {invoice.number}", text=text)


def authenticate_mail(to: str, invoice: Any, link: str) -> Mail:
    text = (
        "Hallo,\n\n"
        f"deine Bank möchte die Abbuchung von {_amount(invoice)} für die Rechnung "
        f"{invoice.number} von dir bestätigt haben (3-D Secure). Wir haben deshalb nichts "
        "abgebucht.\n\n"
        f"Bitte bestätige die Zahlung im Kundenportal:\n{link}\n\n"
        "Viele Grüße\ndein SIDES Team\n"
    )
    return Mail(to=to, subject="Bitte bestätige deine Zahlung", text=text)


def declined_mail(to: str, invoice: Any, link: str, retry_on: Any) -> Mail:
    again = (
        f"Wir versuchen es am {_date(retry_on)} noch einmal automatisch."
        if retry_on
        else "Wir versuchen es nicht noch einmal automatisch."
    )
    text = (
        "Hallo,\n\n"
        f"die Abbuchung von {_amount(invoice)} für die Rechnung {invoice.number} wurde von "
        f"deiner Bank abgelehnt. {again}\n\n"
        f"Du kannst die Rechnung auch jetzt gleich im Kundenportal bezahlen:\n{link}\n\n"
        "Viele Grüße\ndein SIDES Team\n"
    )
    return Mail(to=to, subject=f"Abbuchung fehlgeschlagen – Rechnung {invoice.number}", text=text)


def update_card_mail(to: str, invoice: Any, link: str) -> Mail:
    text = (
        "Hallo,\n\n"
        f"die Abbuchung von {_amount(invoice)} für die Rechnung {invoice.number} ist mit deiner "
        "hinterlegten Karte nicht möglich (z. B. abgelaufen oder gesperrt).\n\n"
        "Bitte hinterlege im Kundenportal eine neue Karte und bezahle die Rechnung dort:\n"
        f"{link}\n\nViele Grüße\ndein SIDES Team\n"
    )
    return Mail(to=to, subject="Bitte hinterlege eine neue Karte", text=text)


def reminder_mail(to: str, invoice: Any, link: str) -> Mail:
    text = (
        "Hallo,\n\n"
        f"die Rechnung {invoice.number} über {_amount(invoice)} war am {_date(invoice.due_date)} "
        "fällig und ist noch offen. Bitte bezahle sie im Kundenportal:\n"
        f"{link}\n\nFalls du schon bezahlt hast, ignoriere diese E-Mail bitte.\n\n"
        "Viele Grüße\ndein SIDES Team\n"
    )
    return Mail(to=to, subject=f"Zahlungserinnerung – Rechnung {invoice.number}", text=text)


def blocked_mail(to: str, store_name: str, overdue: list[Any], link: str) -> Mail:
    from chalicelib.domain.money import format_eur

    lines = "\n".join(
        f"- {item.number}: {_amount(item)} (fällig am {_date(item.due_date)})" for item in overdue
    )
    total = format_eur(sum(item.totals.gross_cents for item in overdue))
    text = (
        "Hallo,\n\n"
        f"weil Rechnungen lange überfällig sind, haben wir das Kassensystem von „{store_name}“ "
        "gesperrt. Offen sind:\n"
        f"{lines}\n\n"
        f"Sobald du {total} bezahlt hast, ist deine Kasse sofort wieder freigeschaltet – am "
        f"schnellsten per Kreditkarte oder PayPal im Kundenportal:\n{link}\n\n"
        "Viele Grüße\ndein SIDES Team\n"
    )
    return Mail(to=to, subject="Deine Kasse ist gesperrt – so schaltest du sie frei", text=text)
