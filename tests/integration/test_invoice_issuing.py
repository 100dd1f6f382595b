"""Issuing on moto with the real renderer: parallel issuers, a crash between commit and
render, and the stored files carrying the committed number (docs/adr/0006)."""

from __future__ import annotations

import dataclasses
import io
import threading
from collections import Counter
from datetime import timedelta
from decimal import Decimal

import pytest
from pypdf import PdfReader

from chalicelib.domain.invoices import InvoiceLine
from chalicelib.services.invoices import RENDER_LEASE, RenderPendingError, pdf_key, xml_key
from local.seed import FixedClock
from tests.fakes import make_store, unique

LINE = InvoiceLine("SIDES Kassenlizenz", 1, 4900, Decimal(19))


class Died(RuntimeError):
    """The issuing function died (timeout, out of memory) right after its commit."""


def _counting(container, renders):
    render = container.render_einvoice
    lock = threading.Lock()

    def counting(invoice, store, supplier):
        with lock:
            renders[invoice.number] += 1
        return render(invoice, store, supplier)

    return dataclasses.replace(container.invoice_issuer, render_einvoice=counting)


def _store(container):
    store = make_store(id=unique("st_"), billing_email=f"{unique('o-')}@issuing.example")
    container.stores.add(store)
    return container.stores.get(store.id)


def _pdf_text(container, invoice):
    pdf = container.documents.get_pdf(pdf_key(invoice))
    return "".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def test_parallel_issuers_render_each_committed_number_once_and_store_it_under_it(container):
    from chalicelib.adapters.dynamo_invoices import DynamoInvoiceRepository

    # Given twelve stores and four issuers working at once, each with a repository of its
    # own (its own guess of the counter), as four Lambda instances would
    stores = [_store(container) for _ in range(12)]
    renders: Counter[str] = Counter()
    issuers = [
        dataclasses.replace(_counting(container, renders), invoices=DynamoInvoiceRepository())
        for _ in range(4)
    ]
    barrier = threading.Barrier(4)
    issued, errors = [], []
    year = container.clock.now().year

    def work(index):
        barrier.wait()
        try:
            for store in stores[index::4]:
                issued.append(issuers[index].issue(store.id, [LINE], store=store))
        except BaseException as exc:  # noqa: BLE001 — reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then every invoice is committed, ready and rendered exactly once
    assert errors == []
    assert len(issued) == 12 and all(invoice.ready for invoice in issued)
    assert sorted(renders) == sorted(invoice.number for invoice in issued)
    assert set(renders.values()) == {1}
    # with unique numbers that follow each other without a gap
    sequences = sorted(int(invoice.number.rsplit("-", 1)[1]) for invoice in issued)
    assert sequences == list(range(sequences[0], sequences[0] + 12))
    assert container.invoices.next_number(year) == sequences[-1] + 1
    # and each stored PDF and XML carry the number committed for it
    for invoice in issued[:3]:
        assert invoice.number in _pdf_text(container, invoice)
        xml = container.documents.get_xml(xml_key(invoice))
        assert xml is not None and invoice.number.encode() in xml


def test_a_crash_between_commit_and_render_is_finished_by_the_redelivery(container):
    store = _store(container)
    invoice_id = f"lic_{store.id}_209901"

    def dies(invoice, store, supplier):
        raise Died()

    # Given the issuer died after the commit, before any file was rendered
    dying = dataclasses.replace(container.invoice_issuer, render_einvoice=dies)
    with pytest.raises(Died):
        dying.issue(store.id, [LINE], period="2099-01", invoice_id=invoice_id, store=store)
    committed = container.invoices.get(invoice_id)
    assert committed is not None and not committed.ready
    # the owner does not see it yet
    assert container.invoice_reader.list(store.id, "all", 10, None).items == []

    # When the message comes again while the dead issuer's lease holds, it waits
    renders: Counter[str] = Counter()
    with pytest.raises(RenderPendingError):
        _counting(container, renders).issue(
            store.id, [LINE], period="2099-01", invoice_id=invoice_id
        )
    # and once the lease ran out, the redelivery finishes it
    counter_before = container.invoices.next_number(committed.issue_date.year)
    later = FixedClock(container.clock.now() + RENDER_LEASE + timedelta(seconds=1))
    redelivery = dataclasses.replace(_counting(container, renders), clock=later)
    finished = redelivery.issue(store.id, [LINE], period="2099-01", invoice_id=invoice_id)

    # Then it is the committed invoice, with the committed number in its stored PDF
    assert finished.id == committed.id and finished.number == committed.number
    assert finished.ready and renders == Counter({committed.number: 1})
    assert committed.number in _pdf_text(container, finished)
    listed = container.invoice_reader.list(store.id, "all", 10, None).items
    assert [i.id for i in listed] == [invoice_id]
    # and the redelivery took no number
    year = committed.issue_date.year
    assert container.invoices.next_number(year) == counter_before
