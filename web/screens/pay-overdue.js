// #/bezahlen: every overdue invoice paid in one go (a blocked till is unlocked at once).
// #/bezahlen?zahlung=<id>: the invoices of that payment (back from PayPal).

import { enc, h } from '../lib/dom.js';
import { fmtDate, money, plural } from '../lib/format.js';
import { api } from '../lib/api.js';
import { load, show } from '../lib/router.js';
import { statusBadge } from '../lib/ui.js';
import { mountPayBox } from '../pay/flow.js';

async function overdueInvoices() {
  const found = [];
  let cursor = null;
  do {
    const page = await api('GET', `/invoices?status=open&limit=100${cursor ? `&cursor=${enc(cursor)}` : ''}`);
    found.push(...page.items.filter((i) => i.status === 'open' && i.overdue));
    cursor = page.next_cursor;
  } while (cursor && found.length < 24);
  // Full invoices: the pay box follows their payments.
  return Promise.all(found.slice(0, 24).map((i) => api('GET', `/invoices/${enc(i.id)}`)));
}

async function invoicesOf(paymentId) {
  const p = await api('GET', `/payments/${enc(paymentId)}`);
  const ids = p.invoice_ids && p.invoice_ids.length ? p.invoice_ids : [p.invoice_id];
  return Promise.all(ids.map((id) => api('GET', `/invoices/${enc(id)}`)));
}

function listRow(inv) {
  return h('li', { class: 'doc', 'data-testid': 'pay-all-invoice', 'data-id': inv.id },
    h('div', { class: 'doc-main' },
      h('a', { href: `#/rechnungen/${enc(inv.id)}` }, inv.number),
      h('span', { class: 'hint' }, `fällig seit ${fmtDate(inv.due_date)}`)),
    h('span', { class: 'doc-side' }, h('strong', { class: 'num' }, money(inv.gross_cents, inv.currency)), ' ', statusBadge(inv)));
}

export async function view(ctx) {
  const paymentId = ctx.params.get('zahlung');
  const invs = await load(ctx, () => (paymentId ? invoicesOf(paymentId) : overdueInvoices()));
  if (!invs) return;
  const title = 'Überfällige Rechnungen bezahlen';
  if (!invs.length) {
    show(ctx, title,
      h('h1', { tabindex: '-1', class: 'page-title' }, title),
      h('section', { class: 'card empty', 'data-testid': 'pay-all-empty' },
        h('p', null, 'Keine überfälligen Rechnungen – alles erledigt.'),
        h('p', null, h('a', { href: '#/rechnungen' }, 'Alle Rechnungen ansehen'))));
    return;
  }
  const list = h('ul', { class: 'docs' }, invs.map(listRow));
  const box = h('section', { id: 'pay-box', class: 'pay-box', 'aria-labelledby': 'pay-title' });
  const sum = invs.reduce((s, i) => s + (Number(i.gross_cents) || 0), 0);
  show(ctx, title,
    h('p', { class: 'back' }, h('a', { href: '#/profil' }, '← Zum Profil')),
    h('h1', { tabindex: '-1', class: 'page-title' }, title),
    h('p', { class: 'lead' }, `${plural(invs.length, 'Rechnung', 'Rechnungen')} über zusammen `,
      h('strong', { class: 'num', 'data-testid': 'pay-all-total' }, money(sum, invs[0].currency)),
      ' – mit einer Zahlung. Ist deine Kasse gesperrt, wird sie danach sofort wieder freigeschaltet.'),
    box,
    h('section', { class: 'card', 'aria-labelledby': 'pay-all-h' },
      h('h2', { id: 'pay-all-h' }, 'Diese Rechnungen bezahlst du'),
      list));
  mountPayBox(box, invs, ctx, (now) => list.replaceChildren(...now.map(listRow)));
}
