// #/rechnungen/<id>: one invoice. When something is due, paying is the first action and the
// PDF the second; below come the documents (the invoice and its corrections), the lines and
// the payments.

import { enc, h, sleep } from '../lib/dom.js';
import { fmtDate, fmtDateTime, fmtPeriod, money, numFmt } from '../lib/format.js';
import { api } from '../lib/api.js';
import { load, show } from '../lib/router.js';
import { DOC_KIND, PAY_METHOD, PAY_STATUS, busy, errorBox, formError, statusBadge } from '../lib/ui.js';
import { mountPayBox } from '../pay/flow.js';
import { listState } from './invoices.js';

const isDue = (inv) => inv.status === 'open' || inv.status === 'processing';

// Presigned URL, served as attachment: the page stays where it is.
function download(url, filename) {
  const a = h('a', { href: url, download: filename, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
}

function downloadButton(ctx, err, testid, label, path, filename, kind, accessible, preparing = 'PDF wird vorbereitet …') {
  const btn = h('button', { type: 'button', class: kind === 'primary' ? 'btn' : `btn btn-${kind}`, 'data-testid': testid, 'aria-label': accessible }, label);
  btn.addEventListener('click', async () => {
    if (btn.disabled) return;
    formError(err, '');
    const restore = busy(btn, preparing);
    try {
      const d = await api('GET', path);
      download(d.url, d.filename || filename);
    } catch (e) {
      if (!e.silent) formError(err, e.message);
    } finally {
      if (ctx.alive()) restore();
    }
  });
  return btn;
}

const paidAtRow = (inv) => h('div', null, h('dt', null, 'Bezahlt am'), h('dd', { 'data-testid': 'invoice-paid-at' }, fmtDate(inv.paid_at)));

function documentsCard(ctx, inv) {
  const docs = Array.isArray(inv.documents) ? inv.documents : [];
  if (docs.length < 2) return null; // only the invoice itself: the PDF button above is enough
  const err = errorBox('doc-error');
  const items = docs.map((d) => {
    const label = DOC_KIND[d.kind] || 'Dokument';
    // The invoice itself through its own route (always there); corrections and receipts by id.
    const base = d.kind === 'invoice' || !d.id ? `/invoices/${enc(inv.id)}` : `/documents/${enc(d.id)}`;
    const name = `${label} ${d.number || ''}`.trim();
    return h('li', { class: 'doc', 'data-testid': 'document', 'data-kind': d.kind },
      h('div', { class: 'doc-main' },
        h('strong', null, label, ' ', h('span', { class: 'nowrap' }, d.number || '')),
        h('span', { class: 'hint' }, fmtDate(d.issue_date),
          d.gross_cents != null ? ` · ${money(d.gross_cents, d.currency || inv.currency)}` : '',
          d.refers_to && d.refers_to.number ? ` · zu Rechnung ${d.refers_to.number}` : '')),
      h('span', { class: 'doc-side' },
        downloadButton(ctx, err, 'doc-download', 'PDF', `${base}/pdf`, `${label}-${d.number}.pdf`, 'secondary', `${name} als PDF herunterladen`),
        // The e-invoice (XRechnung) of an invoice, cancellation or credit note; a receipt has none.
        d.kind === 'receipt' ? null
          : downloadButton(ctx, err, 'doc-xml', 'XML', `${base}/xml`, `${label}-${d.number}.xml`, 'secondary',
            `${name} als XML herunterladen (E-Rechnung)`, 'E-Rechnung wird vorbereitet …')));
  });
  return h('section', { class: 'card', 'aria-labelledby': 'docs-h', 'data-testid': 'documents' },
    h('h2', { id: 'docs-h' }, 'Dokumente'),
    h('ul', { class: 'docs' }, items),
    err);
}

function linesTable(inv) {
  const cur = inv.currency || 'EUR';
  return h('table', { class: 'stack lines' },
    h('caption', { class: 'sr-only' }, 'Rechnungspositionen'),
    h('thead', null, h('tr', null,
      h('th', { scope: 'col' }, 'Beschreibung'),
      h('th', { scope: 'col', class: 'r' }, 'Menge'),
      h('th', { scope: 'col', class: 'r' }, 'Einzelpreis netto'),
      h('th', { scope: 'col', class: 'r' }, 'USt.'),
      h('th', { scope: 'col', class: 'r' }, 'Netto'))),
    h('tbody', null, (inv.lines || []).map((l) => h('tr', null,
      h('td', { 'data-label': 'Beschreibung' }, l.description),
      h('td', { class: 'r num', 'data-label': 'Menge' }, numFmt.format(Number(l.quantity))),
      h('td', { class: 'r num', 'data-label': 'Einzelpreis netto' }, money(l.unit_net_cents, cur)),
      h('td', { class: 'r num', 'data-label': 'USt.' }, `${numFmt.format(Number(l.tax_rate_percent))} %`),
      h('td', { class: 'r num', 'data-label': 'Netto' }, money(l.net_cents, cur))))),
    h('tfoot', null, ...taxRows(inv, cur),
      h('tr', { class: 'total' }, h('th', { scope: 'row', colspan: '4' }, 'Gesamtbetrag brutto'), h('td', { class: 'r num', 'data-testid': 'invoice-gross' }, money(inv.gross_cents, cur)))));
}

// Net and VAT per rate, exactly as the PDF's totals block (one pair of rows per rate).
function taxRows(inv, cur) {
  const rates = Array.isArray(inv.tax_breakdown) && inv.tax_breakdown.length ? inv.tax_breakdown : null;
  const row = (label, cents, tid) => h('tr', tid ? { 'data-testid': tid } : null,
    h('th', { scope: 'row', colspan: '4' }, label), h('td', { class: 'r num' }, money(cents, cur)));
  if (!rates) return [row('Summe netto', inv.net_cents), row('Umsatzsteuer', inv.tax_cents)];
  return rates.flatMap((r) => {
    const pct = `${numFmt.format(Number(r.rate_percent))} %`;
    return [row(`Nettobetrag ${pct}`, r.net_cents, 'tax-net'), row(`Umsatzsteuer ${pct}`, r.tax_cents, 'tax-vat')];
  });
}

function paymentsTable(inv) {
  const cur = inv.currency || 'EUR';
  if (!(inv.payments || []).length) return null;
  return h('section', { class: 'card flush', 'aria-labelledby': 'pay-h' },
    h('h2', { id: 'pay-h', class: 'pad' }, 'Zahlungen'),
    h('table', { class: 'stack payments' },
      h('thead', null, h('tr', null,
        h('th', { scope: 'col' }, 'Datum'),
        h('th', { scope: 'col' }, 'Zahlungsart'),
        h('th', { scope: 'col', class: 'r' }, 'Betrag'),
        h('th', { scope: 'col' }, 'Status'))),
      h('tbody', null, inv.payments.map((p) => h('tr', { 'data-testid': 'payment-row', 'data-status': p.status },
        h('td', { 'data-label': 'Datum' }, fmtDateTime(p.created_at)),
        h('td', { 'data-label': 'Zahlungsart' }, `${PAY_METHOD[p.method] || p.method}${p.kind === 'autopay' ? ' (automatisch)' : ''}`,
          (p.invoice_ids || []).length > 1 ? h('span', { class: 'hint' }, ` · zusammen mit ${p.invoice_ids.length - 1} weiteren`) : null),
        h('td', { class: 'r num', 'data-label': 'Betrag' }, money(p.amount_cents, p.currency || cur)),
        h('td', { 'data-label': 'Status' }, h('span', { class: `pay-status pay-${p.status}` }, PAY_STATUS[p.status] || p.status)))))));
}

// After a payment: status badge, "Bezahlt am", what is still due, the documents (the receipt)
// and the payments table follow the invoice in place.
function updateInvoiceView(ctx, inv) {
  document.getElementById('inv-status')?.replaceWith(statusBadge(inv, 'inv-status'));
  const facts = document.getElementById('inv-facts');
  if (!(inv.status === 'open' && inv.overdue)) facts?.querySelector('.due')?.classList.remove('due');
  if (!isDue(inv)) facts?.querySelector('[data-testid="invoice-due"]')?.parentElement.remove();
  document.getElementById('inv-docs')?.replaceChildren(...[documentsCard(ctx, inv)].filter(Boolean));
  if (inv.status === 'paid' && !(inv.documents || []).some((d) => d.kind === 'receipt')) {
    receiptLater(ctx, inv.id);
  }
  const paidAt = facts?.querySelector('[data-testid="invoice-paid-at"]');
  if (inv.paid_at && facts) {
    if (paidAt) paidAt.textContent = fmtDate(inv.paid_at);
    else facts.append(paidAtRow(inv));
  }
  document.getElementById('inv-payments')?.replaceChildren(...[paymentsTable(inv)].filter(Boolean));
}

// The receipt is issued just after the payment is booked: look again a few times.
async function receiptLater(ctx, id) {
  for (const wait of [1500, 3000, 6000]) {
    await sleep(wait);
    if (!ctx.alive()) return;
    let inv = null;
    try {
      inv = await api('GET', `/invoices/${enc(id)}`);
    } catch {
      return;
    }
    if ((inv.documents || []).some((d) => d.kind === 'receipt')) {
      document.getElementById('inv-docs')?.replaceChildren(...[documentsCard(ctx, inv)].filter(Boolean));
      return;
    }
  }
}

export async function view(ctx, id) {
  const inv = await load(ctx, () => api('GET', `/invoices/${enc(id)}`));
  if (!inv) return;
  const cur = inv.currency || 'EUR';
  const row = (k, v, tid) => h('div', null, h('dt', null, k), h('dd', tid ? { 'data-testid': tid } : null, v));
  const err = errorBox();
  const pdf = downloadButton(ctx, err, 'pdf-download', 'PDF herunterladen', `/invoices/${enc(inv.id)}/pdf`,
    `Rechnung-${inv.number}.pdf`, isDue(inv) ? 'secondary' : 'primary');
  // The same invoice as structured e-invoice (XRechnung, CII XML) for accounting software.
  const xml = downloadButton(ctx, err, 'xml-download', 'E-Rechnung (XML)', `/invoices/${enc(inv.id)}/xml`,
    `Rechnung-${inv.number}.xml`, 'secondary', undefined, 'E-Rechnung wird vorbereitet …');
  xml.setAttribute('aria-describedby', 'xml-hint');
  const isOverdue = inv.status === 'open' && inv.overdue;
  const box = h('section', { id: 'pay-box', class: 'pay-box', 'aria-labelledby': 'pay-title' });

  show(ctx, `Rechnung ${inv.number}`,
    h('p', { class: 'back' }, h('a', { href: listState.hash }, '← Alle Rechnungen')),
    h('div', { class: 'page-head' },
      h('h1', { tabindex: '-1', class: 'page-title' }, 'Rechnung ', h('span', { class: 'nowrap', 'data-testid': 'invoice-number' }, inv.number)),
      statusBadge(inv, 'inv-status')),
    box,
    h('section', { class: 'card', 'aria-label': 'Rechnungsdaten' },
      h('dl', { class: 'facts cols', id: 'inv-facts' },
        row('Rechnungsdatum', fmtDate(inv.issue_date)),
        row('Fällig am', h('span', { class: isOverdue ? 'due' : null }, fmtDate(inv.due_date))),
        inv.period ? row('Leistungszeitraum', fmtPeriod(inv.period)) : null,
        row('Beschreibung', inv.description || '—'),
        row('Gesamtbetrag', h('strong', { class: 'num' }, money(inv.gross_cents, cur))),
        inv.credited_cents ? row('Gutgeschrieben', money(-inv.credited_cents, cur), 'invoice-credited') : null,
        inv.refunded_cents ? row('Erstattet', money(inv.refunded_cents, cur), 'invoice-refunded') : null,
        inv.credited_cents && isDue(inv) ? row('Noch zu zahlen', h('strong', { class: 'num' }, money(inv.amount_due_cents, cur)), 'invoice-due') : null,
        inv.paid_at ? paidAtRow(inv) : null),
      err,
      h('div', { class: 'actions' }, pdf, xml,
        h('a', { class: 'btn btn-secondary', href: `#/support?invoice=${enc(inv.id)}` }, 'Frage zur Rechnung')),
      h('p', { class: 'hint', id: 'xml-hint', 'data-testid': 'xml-hint' },
        'Die E-Rechnung (XRechnung) liest deine Buchhaltungssoftware direkt ein; das PDF enthält sie ebenfalls (ZUGFeRD).')),
    h('div', { id: 'inv-docs' }, documentsCard(ctx, inv)),
    h('section', { class: 'card flush', 'aria-labelledby': 'lines-h' },
      h('h2', { id: 'lines-h', class: 'pad' }, 'Positionen'),
      h('div', { class: 'scroll' }, linesTable(inv))),
    h('div', { id: 'inv-payments' }, paymentsTable(inv)));
  mountPayBox(box, [inv], ctx, (invs) => updateInvoiceView(ctx, invs[0]));
}
