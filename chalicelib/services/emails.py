"""German e-mail texts (informal du, as the portal speaks)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from chalicelib.domain.stores import Store, normalize_email
from chalicelib.domain.validation import validate_email
from chalicelib.services.ports import Attachment, Mail

BERLIN = ZoneInfo("Europe/Berlin")
PDF = "application/pdf"
XML = "application/xml"
# How every mail ends (the greeting on its own line, the sender as a letter signs).
SIGN_OFF = "Viele Grüße\nDein SIDES-Team\n"


def recipients(store: Store) -> tuple[str, ...]:
    """Where a store's documents, reminders and lock notices go: its billing address,
    and only if it is one valid address (never a list someone typed into the field)."""
    address = normalize_email(store.billing_email)
    return () if validate_email(address) else (address,)


def pdf_attachment(filename: str, body: bytes) -> Attachment:
    return Attachment(filename=filename, content_type=PDF, body=body)


def xml_attachment(filename: str, body: bytes) -> Attachment:
    """An e-invoice (XRechnung XML) attached next to its PDF."""
    return Attachment(filename=filename, content_type=XML, body=body)


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
        f"{SIGN_OFF}"
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


def receipt_mail(
    to: str,
    invoice: Any,
    amount_cents: int,
    paid_at: datetime,
    attachments: Sequence[Attachment] = (),
) -> Mail:
    from chalicelib.domain.money import format_eur

    text = (
        "Hallo,\n\n"
        f"danke für deine Zahlung von {format_eur(amount_cents)} für die Rechnung "
        f"{invoice.number}. Sie ist am {_local(paid_at)} bei uns eingegangen; die Rechnung ist "
        "damit bezahlt.\n\n"
        "Du findest sie jederzeit im Kundenportal.\n\n"
        f"{SIGN_OFF}"
    )
    return Mail(
        to=to,
        subject=f"Zahlung erhalten – Rechnung {invoice.number}",
        text=text,
        attachments=tuple(attachments),
    )


def _amount(invoice: Any) -> str:
    from chalicelib.domain.money import format_eur

    return format_eur(invoice.totals.gross_cents)


def _date(day: Any) -> str:
    return str(day.strftime("%d.%m.%Y"))


def invoice_mail(
    to: str,
    invoice: Any,
    link: str,
    pdf: bytes | None = None,
    charged_automatically: bool = False,
    xml: bytes | None = None,
) -> Mail:
    """The invoice itself; with `pdf` it is attached (the document the owner keeps), with
    `xml` its XRechnung too."""
    status = str(getattr(invoice.status, "value", invoice.status))
    attached = "Die Rechnung findest du als PDF im Anhang. " if pdf is not None else ""
    if pdf is not None and xml is not None:
        attached = (
            "Die Rechnung findest du als PDF im Anhang, dazu die E-Rechnung (XRechnung, XML) "
            "für deine Buchhaltung. "
        )
    if status == "void":
        middle = (
            f"hier noch einmal die Rechnung {invoice.number} über {_amount(invoice)} für deine "
            f"Unterlagen. Sie ist storniert, du musst sie nicht bezahlen.\n\n{attached}"
            f"Im Kundenportal:\n{link}\n\n"
        )
    elif status == "paid":
        middle = (
            f"hier noch einmal deine Rechnung {invoice.number} über {_amount(invoice)} für "
            f"deine Unterlagen. Sie ist bereits bezahlt – danke!\n\n{attached}"
            f"Im Kundenportal:\n{link}\n\n"
        )
    elif charged_automatically:
        middle = (
            f"deine Rechnung {invoice.number} über {_amount(invoice)} ist da. Du hast die "
            "automatische Zahlung eingeschaltet: Wir buchen den Betrag von deiner "
            f"hinterlegten Karte ab, du musst nichts tun.\n\n{attached}"
            f"Im Kundenportal:\n{link}\n\n"
        )
    else:
        middle = (
            f"deine Rechnung {invoice.number} über {_amount(invoice)} ist da "
            f"(fällig am {_date(invoice.due_date)}).\n\n{attached}"
            "Du kannst sie hier ansehen und per Kreditkarte oder PayPal "
            f"bezahlen:\n{link}\n\n"
            "Tipp: Wenn du im Portal eine Karte hinterlegst, buchen wir die Lizenzgebühr "
            "künftig automatisch ab.\n\n"
        )
    text = f"Hallo,\n\n{middle}{SIGN_OFF}"
    attachments = (pdf_attachment(str(invoice.pdf_filename), pdf),) if pdf is not None else ()
    if pdf is not None and xml is not None:
        xml_name = str(invoice.pdf_filename).removesuffix(".pdf") + ".xml"
        attachments = (*attachments, xml_attachment(xml_name, xml))
    return Mail(
        to=to, subject=f"Deine Rechnung {invoice.number}", text=text, attachments=attachments
    )


def authenticate_mail(to: str, invoice: Any, link: str) -> Mail:
    text = (
        "Hallo,\n\n"
        f"deine Bank möchte die Abbuchung von {_amount(invoice)} für die Rechnung "
        f"{invoice.number} von dir bestätigt haben (3-D Secure). Wir haben deshalb nichts "
        "abgebucht.\n\n"
        f"Bitte bestätige die Zahlung im Kundenportal:\n{link}\n\n"
        f"{SIGN_OFF}"
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
        f"{SIGN_OFF}"
    )
    return Mail(to=to, subject=f"Abbuchung fehlgeschlagen – Rechnung {invoice.number}", text=text)


def update_card_mail(to: str, invoice: Any, link: str) -> Mail:
    text = (
        "Hallo,\n\n"
        f"die Abbuchung von {_amount(invoice)} für die Rechnung {invoice.number} ist mit deiner "
        "hinterlegten Karte nicht möglich (z. B. abgelaufen oder gesperrt).\n\n"
        "Bitte hinterlege im Kundenportal eine neue Karte und bezahle die Rechnung dort:\n"
        f"{link}\n\n{SIGN_OFF}"
    )
    return Mail(to=to, subject="Bitte hinterlege eine neue Karte", text=text)


def reminder_mail(to: str, invoice: Any, link: str) -> Mail:
    text = (
        "Hallo,\n\n"
        f"die Rechnung {invoice.number} über {_amount(invoice)} war am {_date(invoice.due_date)} "
        "fällig und ist noch offen. Bitte bezahle sie im Kundenportal:\n"
        f"{link}\n\nFalls du schon bezahlt hast, ignoriere diese E-Mail bitte.\n\n"
        f"{SIGN_OFF}"
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
        f"{SIGN_OFF}"
    )
    return Mail(to=to, subject="Deine Kasse ist gesperrt – so schaltest du sie frei", text=text)


def payment_receipt_mail(
    to: str,
    numbers: Sequence[str],
    amount_cents: int,
    paid_at: datetime,
    receipt_number: str,
    autopay: bool,
    attachments: Sequence[Attachment] = (),
) -> Mail:
    """The confirmation of one successful payment (one or several invoices)."""
    from chalicelib.domain.money import format_eur

    what = (
        f"die Rechnung {numbers[0]}"
        if len(numbers) == 1
        else "die Rechnungen " + ", ".join(numbers)
    )
    autopay_line = (
        "Die monatliche Lizenz buchen wir automatisch von deiner gespeicherten Karte ab.\n\n"
        if autopay
        else ""
    )
    text = (
        "Hallo,\n\n"
        f"danke für deine Zahlung von {format_eur(amount_cents)} für {what}. Sie ist am "
        f"{_local(paid_at)} bei uns eingegangen; damit "
        f"{'ist die Rechnung' if len(numbers) == 1 else 'sind diese Rechnungen'} bezahlt.\n\n"
        f"Die Zahlungsbestätigung {receipt_number} hängt als PDF an und liegt im Kundenportal "
        "bei der Rechnung.\n\n"
        f"{autopay_line}"
        f"{SIGN_OFF}"
    )
    subject = (
        f"Zahlung erhalten – Rechnung {numbers[0]}"
        if len(numbers) == 1
        else f"Zahlung erhalten – {len(numbers)} Rechnungen"
    )
    return Mail(to=to, subject=subject, text=text, attachments=tuple(attachments))


def refund_mail(to: str, numbers: Sequence[str], amount_cents: int, reason: str) -> Mail:
    """Money that came for invoices that were already settled went back to the payer."""
    from chalicelib.domain.money import format_eur

    what = (
        f"die Rechnung {numbers[0]}"
        if len(numbers) == 1
        else "die Rechnungen " + ", ".join(numbers)
    )
    text = (
        "Hallo,\n\n"
        f"für {what} ist eine Zahlung von {format_eur(amount_cents)} bei uns eingegangen, "
        f"{reason}. Wir haben dir den Betrag deshalb vollständig erstattet; er kommt auf "
        "demselben Weg zu dir zurück, auf dem du bezahlt hast (je nach Bank in wenigen Tagen).\n\n"
        "Du musst nichts weiter tun. Den Stand deiner Rechnungen siehst du jederzeit im "
        "Kundenportal.\n\n"
        f"{SIGN_OFF}"
    )
    return Mail(to=to, subject=f"Erstattung über {format_eur(amount_cents)}", text=text)


def correction_mail(
    to: str,
    title: str,
    number: str,
    invoice_number: str,
    amount_cents: int,
    refunded: bool,
    link: str,
    attachments: Sequence[Attachment] = (),
) -> Mail:
    """A Stornorechnung or credit note for one of the store's invoices, PDF attached."""
    from chalicelib.domain.money import format_eur

    if refunded:
        effect = (
            f"Den Betrag von {format_eur(amount_cents)} erstatten wir dir auf dem Weg, auf dem "
            "du bezahlt hast (je nach Bank in wenigen Tagen)."
        )
    else:
        effect = (
            f"Der offene Betrag der Rechnung {invoice_number} verringert sich um "
            f"{format_eur(amount_cents)}."
        )
    text = (
        "Hallo,\n\n"
        f"zur Rechnung {invoice_number} haben wir die {title} {number} ausgestellt. "
        f"{effect}\n\n"
        f"Die {title} hängt als PDF an; du findest sie auch im Kundenportal bei der Rechnung:\n"
        f"{link}\n\n"
        f"{SIGN_OFF}"
    )
    return Mail(
        to=to,
        subject=f"{title} {number} zur Rechnung {invoice_number}",
        text=text,
        attachments=tuple(attachments),
    )


# --- the owner's account --------------------------------------------------------------


def email_change_code_mail(to: str, code: str) -> Mail:
    text = (
        "Hallo,\n\n"
        "du möchtest diese Adresse als neue E-Mail-Adresse für das SIDES Kundenportal "
        "verwenden (Anmeldung und Rechnungen).\n\n"
        f"Dein Code lautet: {code}\n\n"
        "Gib ihn im Portal unter „Konto“ ein; er gilt 30 Minuten. Wenn du das nicht warst, "
        "ignoriere diese E-Mail einfach.\n\n"
        f"{SIGN_OFF}"
    )
    return Mail(to=to, subject="Dein Code für die neue E-Mail-Adresse", text=text)


def email_changed_notice_mail(to: str, new_email: str) -> Mail:
    text = (
        "Hallo,\n\n"
        f"die E-Mail-Adresse deines SIDES Kundenportals ist jetzt {new_email}. Du meldest "
        "dich ab sofort damit an, und Rechnungen gehen dorthin.\n\n"
        "Wenn du das nicht warst, melde dich bitte sofort beim SIDES Support.\n\n"
        f"{SIGN_OFF}"
    )
    return Mail(to=to, subject="Deine E-Mail-Adresse wurde geändert", text=text)


def lock_warning_sentence(day: Any, amount_cents: int) -> str:
    from chalicelib.domain.money import format_eur

    return (
        f"Deine Kasse wird am {_date(day)} gesperrt, wenn {format_eur(amount_cents)} "
        "bis dahin nicht bezahlt sind."
    )


def with_lock_warning(mail: Mail, day: Any, amount_cents: int) -> Mail:
    """A reminder that also says when the till will be locked unless paid."""
    import dataclasses

    sentence = lock_warning_sentence(day, amount_cents)
    marker = "\n\nFalls du schon bezahlt hast"
    text = mail.text
    if marker in text:
        text = text.replace(marker, f"\n\n{sentence}{marker}", 1)
    else:
        text = f"{text}\n{sentence}\n"
    return dataclasses.replace(mail, text=text)
