"""The owner's account on fakes: billing data, e-mail change, password change, TOTP with
codes computed by pyotp, the lock warning and the activity log."""

from __future__ import annotations

import dataclasses
import re
import time
from datetime import date, timedelta

import pyotp
import pytest

from chalicelib.api import presenters
from chalicelib.domain.account import InvalidAddressError, InvalidEmailError, InvalidVatIdError
from chalicelib.domain.dunning import lock_warning
from chalicelib.domain.einvoice import EInvoiceFiles
from chalicelib.domain.errors import (
    EmailInUseError,
    InvalidCodeError,
    InvalidCredentialsError,
    RateLimitedError,
    UnauthorizedError,
)
from chalicelib.domain.stores import OpenItem
from chalicelib.services.account import MfaSetup
from tests.fakes import make_container, make_line, make_store

EMAIL = "chef@bellavista.example"
PASSWORD = "Sicheres-Passwort-2026"
IP = "198.51.100.7"


@pytest.fixture()
def c():
    container = make_container()
    container.stores.add(make_store(id="st_1", billing_email=EMAIL))
    sub = container.users.create_user(EMAIL, PASSWORD)
    container.memberships.add(sub, "st_1", EMAIL)
    return container


def _principal(c):
    tokens = c.auth.login(EMAIL, PASSWORD, IP)
    return c.auth.authenticate(tokens.access_token)


def _summaries(c) -> list[str]:
    return [e.summary for e in c.activity_log.of("st_1")]


# billing data ---------------------------------------------------------------------------


def test_profile_changes_are_validated_and_logged(c):
    store = c.account_service.update_profile(
        "st_1", address={"city": "Köln", "postal_code": "50667"}, vat_id="DE 136695976"
    )

    assert store.address.city == "Köln" and store.vat_id == "DE136695976"
    assert _summaries(c)[0] == "Adresse und USt-IdNr. geändert."


def test_an_unchanged_profile_writes_no_entry(c):
    store = c.stores.get("st_1")
    c.account_service.update_profile("st_1", address={"city": store.address.city})

    assert c.activity_log.of("st_1") == []


@pytest.mark.parametrize(
    ("kwargs", "error", "named"),
    [
        ({"address": {"postal_code": "0123"}}, InvalidAddressError, "Postleitzahl"),
        ({"address": {"country": "Deutschland"}}, InvalidAddressError, "Land"),
        ({"vat_id": "DE123456789"}, InvalidVatIdError, "USt-IdNr."),
        ({"accountant_email": "a@b, c@d"}, InvalidEmailError, "Steuerberatung"),
    ],
)
def test_wrong_billing_data_names_the_field(c, kwargs, error, named):
    with pytest.raises(error) as caught:
        c.account_service.update_profile("st_1", **kwargs)

    assert named in caught.value.message
    assert c.activity_log.of("st_1") == []


def test_issued_invoices_keep_the_address_they_were_issued_with():
    # Given a store whose documents record the address they were rendered with
    cities: list[str] = []

    def render(invoice, store, supplier):  # type: ignore[no-untyped-def]
        cities.append(store.address.city)
        return EInvoiceFiles(pdf=f"%PDF {store.address.city}".encode(), xml=b"<x/>")

    c = make_container(render_einvoice=render)
    c.stores.add(make_store(id="st_1", billing_email=EMAIL))
    first_city = c.stores.get("st_1").address.city
    c.invoice_issuer.issue("st_1", [make_line()])

    # When the owner changes the address and the next invoice is issued
    c.account_service.update_profile("st_1", address={"city": "Zwickau", "postal_code": "08056"})
    c.invoice_issuer.issue("st_1", [make_line()])

    # Then only the new invoice was rendered with it; the first is never rendered again
    assert cities == [first_city, "Zwickau"]


# e-mail ---------------------------------------------------------------------------------


def _code(c, to: str) -> str:
    (mail,) = [m for m in c.mailer.sent if m.to == to][-1:]
    found = re.search(r"Dein Code lautet: (\d{6})", mail.text)
    assert found
    return found.group(1)


def test_email_change_moves_sign_in_billing_and_claim_and_tells_the_old_address(c):
    c.account_service.request_email_change("st_1", "Neu@Bellavista.Example")
    code = _code(c, "neu@bellavista.example")

    store = c.account_service.confirm_email_change("st_1", code)

    assert store.billing_email == "neu@bellavista.example"
    assert c.users.email_changes == [(EMAIL, "neu@bellavista.example")]
    assert c.stores.claims.get("neu@bellavista.example") == "st_1" and EMAIL not in c.stores.claims
    notice = c.mailer.to(EMAIL)[-1]
    assert "neu@bellavista.example" in notice.text
    assert _summaries(c)[0].startswith("E-Mail-Adresse von chef@bellavista.example auf")
    with pytest.raises(InvalidCodeError):
        c.account_service.confirm_email_change("st_1", code)  # used up


def test_a_wrong_or_expired_code_is_refused_and_wrong_codes_are_limited(c):
    c.account_service.request_email_change("st_1", "neu@bellavista.example")
    code = _code(c, "neu@bellavista.example")
    for _ in range(5):
        with pytest.raises(InvalidCodeError):
            c.account_service.confirm_email_change("st_1", "000000")
    with pytest.raises(RateLimitedError):
        c.account_service.confirm_email_change("st_1", code)


def test_an_expired_code_is_refused(c):
    c.account_service.request_email_change("st_1", "neu@bellavista.example")
    code = _code(c, "neu@bellavista.example")
    c.clock.advance(minutes=31)

    with pytest.raises(InvalidCodeError):
        c.account_service.confirm_email_change("st_1", code)


def test_an_address_of_another_store_is_in_use(c):
    c.stores.add(make_store(id="st_2", billing_email="andere@x.example"))

    with pytest.raises(EmailInUseError):
        c.account_service.request_email_change("st_1", "ANDERE@x.example")
    assert c.mailer.sent == []


def test_the_sign_in_name_refused_puts_the_address_back(c):
    c.account_service.request_email_change("st_1", "neu@bellavista.example")
    code = _code(c, "neu@bellavista.example")
    c.users.create_user("neu@bellavista.example", PASSWORD)  # the identity provider has it

    with pytest.raises(EmailInUseError):
        c.account_service.confirm_email_change("st_1", code)

    assert c.stores.get("st_1").billing_email == EMAIL
    assert c.stores.claims[EMAIL] == "st_1" and "neu@bellavista.example" not in c.stores.claims


# password -------------------------------------------------------------------------------


def test_password_change_needs_the_current_one_and_signs_every_token_out(c):
    principal = _principal(c)
    other = c.auth.authenticate(c.auth.login(EMAIL, PASSWORD, IP).access_token)
    # the fake verifier issues tokens at 1_800_000_000 (epoch seconds): sign out just after
    c.__dict__["auth"] = dataclasses.replace(
        c.auth, clock=lambda: 1_800_000_000.5, sleep=lambda _: None
    )

    with pytest.raises(InvalidCredentialsError):
        c.auth.change_password(principal, "Falsches-Passwort-1", "Neues-Passwort-2027", IP)
    c.auth.change_password(principal, PASSWORD, "Neues-Passwort-2027", IP)

    for token in (principal.access_token, other.access_token):
        with pytest.raises(UnauthorizedError):
            c.auth.authenticate(token)
    assert "Passwort geändert" in _summaries(c)[0]


# TOTP -----------------------------------------------------------------------------------


def test_totp_is_set_up_with_its_own_secret_and_then_asked_at_sign_in(c):
    principal = _principal(c)
    setup: MfaSetup = c.account_service.mfa_setup(principal)
    assert setup.otpauth_uri.startswith("otpauth://totp/SIDES%20Kundenportal%3Achef%40")
    assert "<svg" in setup.qr_svg
    with pytest.raises(InvalidCodeError):
        c.account_service.mfa_verify(principal, "000000")

    store = c.account_service.mfa_verify(principal, pyotp.TOTP(setup.secret).now())
    assert store.mfa_enabled

    step = c.auth.login(EMAIL, PASSWORD, IP)
    assert not hasattr(step, "access_token")
    time.sleep(0)  # the code of the next step: the one of verify() is used up
    code = pyotp.TOTP(setup.secret).at(time.time() + 30)
    tokens = c.auth.login_mfa(step.session, code, IP)
    assert c.auth.authenticate(tokens.access_token).store_id == "st_1"
    again = c.auth.login(EMAIL, PASSWORD, IP)
    with pytest.raises(InvalidCredentialsError):
        c.auth.login_mfa(again.session, code, IP)  # a code counts once


# lock warning ---------------------------------------------------------------------------


def _item(invoice_id: str, cents: int, due: date) -> OpenItem:
    return OpenItem(invoice_id=invoice_id, gross_cents=cents, due_date=due)


def test_the_lock_warning_names_the_first_lock_day_and_what_must_be_paid_by_then():
    items = (
        _item("a", 5831, date(2026, 11, 29)),
        _item("b", 3570, date(2026, 11, 29)),
        _item("c", 5831, date(2026, 12, 29)),
    )

    assert lock_warning(items, date(2026, 11, 29), 14) is None  # due today: not yet overdue
    assert lock_warning(items, date(2026, 11, 30), 14) == (date(2026, 12, 14), 9401)
    assert lock_warning(items, date(2026, 12, 13), 14) == (date(2026, 12, 14), 9401)
    assert lock_warning(items, date(2026, 12, 14), 14) is None  # locked from today on


def test_the_profile_shows_the_warning_and_reminders_state_it(c):
    c.invoice_issuer.issue("st_1", [make_line()], due_days=0)
    today = c.clock.now().date()
    item = c.stores.get("st_1").open_items[0]

    shown = presenters.profile(c.stores.get("st_1"), today + timedelta(days=1), 14)
    c.dunning.run(today + timedelta(days=1))

    lock_day = today + timedelta(days=15)
    assert shown["lock_warning"] == {
        "date": lock_day.isoformat(),
        "amount_cents": item.gross_cents,
    }
    (reminder,) = [m for m in c.mailer.to(EMAIL) if m.subject.startswith("Zahlungserinnerung")]
    assert f"Deine Kasse wird am {lock_day.strftime('%d.%m.%Y')} gesperrt, wenn" in reminder.text


# what other use cases note in the log -----------------------------------------------------


def test_card_and_autopay_changes_are_noted(c):
    secret = c.payment_methods.start_setup("st_1")
    c.payment_methods.confirm_setup("st_1", c.cards.complete_setup(secret, "pm_1", "succeed"))
    c.clock.advance(seconds=1)
    c.payment_methods.set_autopay("st_1", False)
    c.clock.advance(seconds=1)
    c.payment_methods.remove("st_1")

    assert [e.type for e in reversed(c.activity_log.of("st_1"))] == [
        "card_saved",
        "autopay_off",
        "card_removed",
    ]
    assert _summaries(c)[0] == "Karte entfernt; Autopay ist ausgeschaltet."


def test_published_events_are_noted_in_german_for_their_store(c):
    from chalicelib.domain.events import InvoicePaid, PaymentFailed, StoreAccessChanged
    from chalicelib.services.activity import ActivityPublisher

    publisher = ActivityPublisher(c.publisher, c.activity_recorder)
    now = c.clock.now()
    publisher.publish(
        [
            InvoicePaid("st_1", "inv_1", "RE-2026-000001", 5831, "EUR", now, "pay_1").to_event(),
            PaymentFailed("st_1", "inv_1", "pay_2", "card_declined", "autopay").to_event(),
            StoreAccessChanged("st_1", "blocked", "overdue_invoices", now).to_event(),
            StoreAccessChanged("st_1", "active", "no_overdue_invoices", now).to_event(),
        ]
    )

    assert len(c.publisher.published) == 4  # published as before
    noted = {e.type: e.summary for e in c.activity_log.of("st_1")}
    assert noted["payment_succeeded"] == "Rechnung RE-2026-000001 über 58,31 € bezahlt."
    assert noted["payment_failed"].startswith("Die automatische Abbuchung ist fehlgeschlagen.")
    assert noted["till_locked"] == "Kasse gesperrt, weil Rechnungen überfällig sind."
    assert noted["till_unlocked"] == "Kasse wieder freigeschaltet."


def test_a_failing_log_never_fails_the_change(c):
    class Broken:
        def append(self, entry):  # type: ignore[no-untyped-def]
            raise RuntimeError("table gone")

    from chalicelib.services.activity import ActivityRecorder

    recorder = ActivityRecorder(lambda: Broken(), lambda: c.clock)  # type: ignore[arg-type,return-value]

    recorder.record("st_1", "card_saved", "Karte gespeichert.")  # no exception


def test_the_operator_reset_turns_mfa_off_and_says_so(c):
    principal = _principal(c)
    setup = c.account_service.mfa_setup(principal)
    c.account_service.mfa_verify(principal, pyotp.TOTP(setup.secret).now())

    store = c.account_service.reset_mfa("st_1")

    assert store.mfa_enabled is False
    assert hasattr(c.auth.login(EMAIL, PASSWORD, IP), "access_token")
    assert any("vom SIDES-Team zurückgesetzt" in text for text in _summaries(c))
