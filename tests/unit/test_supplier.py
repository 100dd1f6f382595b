"""The seller's data: configuration per stage, checked when read; retention dates."""

from __future__ import annotations

import copy
import dataclasses
import json
from datetime import date

import pytest

from chalicelib.config import load_supplier
from chalicelib.domain.archive import retain_until
from chalicelib.domain.supplier import (
    SAMPLE_SELLER,
    SAMPLE_SUPPLIER,
    SellerDataError,
    parse_supplier,
)
from tests.fakes import make_container, make_line, make_settings, make_store


def _seller(**changes):
    data = copy.deepcopy(SAMPLE_SELLER)
    for path, value in changes.items():
        target = data
        *parents, leaf = path.split("__")
        for key in parents:
            target = target[key]
        target[leaf] = value
    return data


def test_the_sample_seller_is_valid_and_complete():
    supplier = SAMPLE_SUPPLIER.require_valid()
    assert supplier.problems == ()
    assert supplier.iban == "DE89 3704 0044 0532 0130 00"
    assert supplier.vat_id == "DE123456788"
    assert supplier.register_entry == "Amtsgericht Charlottenburg, HRB 123456 B"
    assert supplier.managing_directors == ("Erika Mustermann", "Max Mustermann")


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"bank__iban": "DE02 1001 0010 0123 4567 89"}, "IBAN"),  # fails mod 97
        ({"bank__iban": "DE89 3704 0044 0532 0130"}, "IBAN"),
        ({"vat_id": "DE123456789"}, "USt-IdNr."),
        ({"vat_id": "12345"}, "USt-IdNr."),
        ({"bank__bic": "NOTABIC"}, "BIC"),
        ({"tax_number": "12"}, "Steuernummer"),
        ({"register_court": "Amtsgericht Nirgendwo"}, "Registergericht"),
        ({"register_number": ""}, "Registernummer"),
        ({"managing_directors": []}, "Geschäftsführer"),
        ({"legal_name": " "}, "Firma"),
        ({"address__postal_code": "ABCDE"}, "Postleitzahl"),
        ({"contact__email": "a@x.example, b@y.example"}, "E-Mail"),
        ({"contact__portal_url": "http://portal.example"}, "Portal-Adresse"),
    ],
)
def test_each_invalid_or_missing_value_is_named(changes, named):
    supplier = parse_supplier(_seller(**changes), source="prod.json")
    assert any(named in problem for problem in supplier.problems), supplier.problems
    with pytest.raises(SellerDataError) as raised:
        supplier.require_valid()
    assert "Verkäuferdaten (prod.json) sind ungültig" in raised.value.message
    assert named in raised.value.message


def test_a_stage_file_is_read_and_checked(tmp_path, monkeypatch):
    path = tmp_path / "seller.json"
    path.write_text(json.dumps(_seller(legal_name="Beispiel GmbH")), encoding="utf-8")
    monkeypatch.setenv("SELLER_CONFIG", str(path))

    supplier = load_supplier("sides-portal-prod", on_local_stand_in=False)

    assert supplier.name == "Beispiel GmbH" and supplier.problems == ()
    assert supplier.source == str(path)


def test_a_missing_or_broken_file_refuses_instead_of_guessing(tmp_path, monkeypatch):
    monkeypatch.delenv("SELLER_CONFIG", raising=False)
    missing = load_supplier("sides-portal-nowhere", on_local_stand_in=False)
    assert missing.problems and "nowhere" in missing.problems[0]

    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    monkeypatch.setenv("SELLER_CONFIG", str(broken))
    assert load_supplier("sides-portal-prod", on_local_stand_in=True).problems


def test_the_local_stand_in_uses_the_sample_seller(monkeypatch):
    monkeypatch.delenv("SELLER_CONFIG", raising=False)
    supplier = load_supplier("sides-portal-local", on_local_stand_in=True)
    assert supplier.problems == () and supplier.iban == SAMPLE_SUPPLIER.iban


def test_a_stage_with_invalid_seller_data_issues_nothing():
    invalid = parse_supplier(_seller(bank__iban="DE02 1001 0010 0123 4567 89"), source="x.json")
    c = make_container(settings=make_settings(supplier=invalid))
    c.stores.add(make_store(id="st_1"))

    with pytest.raises(SellerDataError):
        c.invoice_issuer.issue("st_1", [make_line()])

    assert c.documents.objects == {} and c.mailer.sent == []
    assert c.stores.get("st_1").open_items == ()
    assert c.invoices.next_number(2026) == 1


@pytest.mark.parametrize(
    ("issued", "until"),
    [
        (date(2026, 1, 2), date(2035, 1, 1)),
        (date(2026, 12, 31), date(2035, 1, 1)),
        (date(2027, 1, 1), date(2036, 1, 1)),
    ],
)
def test_retention_runs_to_the_end_of_the_issue_year_plus_eight_years(issued, until):
    assert retain_until(issued) == until


def test_issuing_archives_the_pdf_with_its_retention_date():
    c = make_container()
    c.stores.add(make_store(id="st_1"))

    invoice = c.invoice_issuer.issue("st_1", [make_line()])

    # the PDF and its XRechnung, both until the end of the retention period
    assert list(c.documents.retention.values()) == [date(invoice.issue_date.year + 9, 1, 1)] * 2


def test_the_footer_fields_of_section_35a_are_part_of_the_seller():
    fields = {f.name for f in dataclasses.fields(SAMPLE_SUPPLIER)}
    assert {"register_court", "register_number", "managing_directors", "address"} <= fields
