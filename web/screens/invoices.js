// #/rechnungen: every invoice, filtered open/paid, paged; rows in progress follow by themselves.

import { h } from '../lib/dom.js';
import { fmtDate, money } from '../lib/format.js';
import { api } from '../lib/api.js';
import { load, navigate, show } from '../lib/router.js';
import { busy, errorBox, formError, statusBadge } from '../lib/ui.js';

const FILTERS = [['all', 'Alle'], ['open', 'Offen'], ['paid', 'Bezahlt']];
const EMPTY = { all: 'Du hast noch keine Rechnungen.', open: 'Keine offenen Rechnungen – alles erledigt.', paid: 'Noch keine bezahlten Rechnungen.' };
export const listState = { hash: '#/rechnungen' };

export async function view(ctx) {
  const status = FILTERS.some(([k]) => k === ctx.params.get('status')) ? ctx.params.get('status') : 'all';
  listState.hash = location.hash;
  const listUrl = (cursor) => `/invoices?status=${status}&limit=20${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;

  const filters = h('div', { class: 'filters', role: 'group', 'aria-label': 'Rechnungen filtern' },
    FILTERS.map(([k, label]) => h('a', {
      class: 'chip', href: k === 'all' ? '#/rechnungen' : `#/rechnungen?status=${k}`,
      'data-testid': `filter-${k}`, 'aria-current': k === status ? 'true' : null,
    }, label)));

  const header = [h('div', { class: 'page-head' }, h('h1', { tabindex: '-1', class: 'page-title' }, 'Rechnungen'), filters)];
  const first = await load(ctx, () => api('GET', listUrl()));
  if (!first) return;

  if (!first.items.length) {
    show(ctx, 'Rechnungen', ...header, h('p', { class: 'card empty' }, EMPTY[status]));
    return;
  }

  const tbody = h('tbody');
  const err = errorBox();
  const more = h('button', { type: 'button', class: 'btn btn-secondary', 'data-testid': 'load-more' }, 'Weitere laden');
  let cursor = first.next_cursor;
  const addRows = (items) => {
    const rows = items.map(invoiceRow);
    tbody.append(...rows);
    return rows;
  };
  addRows(first.items);
  more.hidden = !cursor;
  more.addEventListener('click', async () => {
    if (more.disabled || !cursor) return;
    formError(err, '');
    const restore = busy(more, 'Wird geladen …');
    try {
      const page = await api('GET', listUrl(cursor));
      if (!ctx.alive()) return;
      const rows = addRows(page.items);
      cursor = page.next_cursor;
      restore();
      more.hidden = !cursor;
      rows[0]?.querySelector('a')?.focus();
    } catch (e) {
      if (e.silent) return;
      restore();
      formError(err, e.message);
    }
  });

  const table = h('table', { class: 'invoices' },
    h('caption', { class: 'sr-only' }, `Rechnungen (${FILTERS.find(([k]) => k === status)[1]})`),
    h('thead', null, h('tr', null,
      h('th', { scope: 'col' }, 'Nummer'),
      h('th', { scope: 'col' }, 'Datum'),
      h('th', { scope: 'col' }, 'Beschreibung'),
      h('th', { scope: 'col', class: 'r' }, 'Betrag'),
      h('th', { scope: 'col' }, 'Status'))),
    tbody);

  show(ctx, 'Rechnungen', ...header, h('div', { class: 'card flush' }, table), err,
    h('div', { class: 'actions center' }, more));
  watchProcessing(ctx, tbody);
}

// Rows "in Bearbeitung" turn into "bezahlt" (or back to "offen") on their own, for a minute.
function watchProcessing(ctx, tbody) {
  let rounds = 0;
  const tick = async () => {
    const rows = [...tbody.querySelectorAll('tr[data-status="processing"]')];
    if (!ctx.alive() || !rows.length || rounds++ >= 20) return;
    await Promise.all(rows.map(async (tr) => {
      try {
        const inv = await api('GET', `/invoices/${encodeURIComponent(tr.dataset.id)}`);
        if (ctx.alive() && inv.status !== 'processing') tr.replaceWith(invoiceRow(inv));
      } catch { /* next round */ }
    }));
    setTimeout(tick, 3000);
  };
  setTimeout(tick, 3000);
}

function invoiceRow(inv) {
  const href = `#/rechnungen/${encodeURIComponent(inv.id)}`;
  const tr = h('tr', { 'data-testid': 'invoice-row', 'data-id': inv.id, 'data-status': inv.status, 'data-overdue': String(Boolean(inv.overdue)), class: 'clickable' },
    h('td', { class: 'c-num' }, h('a', { href, 'data-testid': 'invoice-number' }, inv.number)),
    h('td', { class: 'c-date' }, fmtDate(inv.issue_date)),
    h('td', { class: 'c-desc' }, inv.description || ''),
    h('td', { class: `c-amt r num${inv.status === 'void' ? ' void' : ''}` }, money(inv.gross_cents, inv.currency)),
    h('td', { class: 'c-status' }, statusBadge(inv)));
  tr.addEventListener('click', (ev) => {
    if (ev.target.closest('a') || window.getSelection()?.toString()) return;
    navigate(href);
  });
  return tr;
}

