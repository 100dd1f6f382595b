// Shared components: form parts, buttons, status badges, the account banner, contact list.

import { h, spinner } from './dom.js';
import { fmtDate, money } from './format.js';
import { notify } from './router.js';

// ---- Forms

// One message at a time: an error replaces the notice at the top (e.g. "Du bist abgemeldet.").
export function formError(el, msg) {
  el.textContent = msg || '';
  el.hidden = !msg;
  if (msg) notify('');
}

export function errorBox(testid = 'form-error') {
  return h('p', { class: 'form-error', role: 'alert', 'data-testid': testid, hidden: true });
}

export function field(id, label, input, hint) {
  if (hint) input.setAttribute('aria-describedby', [input.getAttribute('aria-describedby'), `${id}-hint`].filter(Boolean).join(' '));
  return h('div', { class: 'field' },
    h('label', { for: id }, label),
    input,
    hint ? h('p', { class: 'hint', id: `${id}-hint` }, hint) : null);
}

export function heading(text, sub) {
  return [h('h1', { tabindex: '-1' }, text), sub ? h('p', { class: 'lead' }, sub) : null];
}

// ---- Buttons. kind: primary (the one main action), secondary, warning (think twice,
// e.g. cancelling a payment), danger (destroys something, e.g. removing the card).

export function button(testid, text, kind = 'primary', type = 'button') {
  const cls = kind === 'primary' ? 'btn' : `btn btn-${kind}`;
  return h('button', { type, class: cls, 'data-testid': testid }, text);
}

// Busy state: disabled, label swapped, spinner shown; returns a restore function.
export function busy(btn, label) {
  const old = btn.textContent;
  btn.disabled = true;
  btn.setAttribute('aria-busy', 'true');
  btn.textContent = label;
  return () => {
    btn.removeAttribute('aria-busy');
    btn.textContent = old;
    btn.disabled = false;
  };
}

// Controls of a running flow (paying, saving a card): progress line, error, locked buttons.
export function flowUi(buttons, progress, error, main) {
  return {
    progress(text) {
      progress.replaceChildren(...(text ? [spinner(), text] : []));
      progress.hidden = !text;
    },
    error: (text) => formError(error, text),
    lock(on) {
      for (const b of buttons) b.disabled = on;
      if (on) main.setAttribute('aria-busy', 'true');
      else main.removeAttribute('aria-busy');
    },
  };
}

// ---- Labels and badges

const STATUS = {
  open: ['offen', 'open'],
  overdue: ['überfällig', 'overdue'],
  processing: ['in Bearbeitung', 'processing'],
  paid: ['bezahlt', 'paid'],
  void: ['storniert', 'void'],
};

// What corrections made of an invoice outranks its payment state in the badge's words.
const CORRECTION = {
  cancelled: 'storniert', credited: 'gutgeschrieben', partially_credited: 'teilweise gutgeschrieben',
};

export function statusBadge(inv, id) {
  const key = inv.status === 'open' && inv.overdue ? 'overdue' : inv.status;
  const [label, cls] = STATUS[key] || [String(inv.status), 'open'];
  // An open invoice keeps saying "offen"/"überfällig": the amount still due is what counts.
  // A paid invoice that was partly credited was paid: the rest went through.
  const settled = inv.status === 'void' || (inv.status === 'paid' && inv.correction !== 'partially_credited');
  const shown = settled && CORRECTION[inv.correction] ? CORRECTION[inv.correction] : label;
  return h('span', { class: `badge badge-${cls}`, id, 'data-testid': 'invoice-status', 'data-status': inv.status }, shown);
}

export const PAY_STATUS = {
  pending: 'ausstehend', requires_action: 'Bestätigung nötig', succeeded: 'erfolgreich',
  failed: 'fehlgeschlagen', canceled: 'abgebrochen', refunded: 'Erstattet',
};
export const PAY_METHOD = { card: 'Kreditkarte', paypal: 'PayPal' };
export const DOC_KIND = {
  invoice: 'Rechnung', cancellation: 'Stornorechnung', credit_note: 'Gutschrift', receipt: 'Zahlungsbestätigung',
};

// ---- The account banner (profile, pay-all): active, or blocked with the way out.

export function accountBanner(p) {
  const cur = p.currency || 'EUR';
  if (p.account_status === 'blocked') {
    const overdue = Number(p.overdue_balance_cents) || 0;
    return h('section', { class: 'banner banner-blocked', 'data-testid': 'account-banner', 'data-status': 'blocked', 'aria-labelledby': 'banner-title' },
      h('h2', { id: 'banner-title' }, 'Deine Kasse ist gesperrt'),
      h('p', null,
        p.blocked_since ? `Seit ${fmtDate(p.blocked_since)} ist deine Kasse gesperrt, ` : 'Deine Kasse ist gesperrt, ',
        'weil Rechnungen überfällig sind.'),
      h('p', null, 'Überfälliger Betrag: ', h('strong', { class: 'num' }, money(overdue, cur))),
      h('p', null, 'Sobald du die überfälligen Rechnungen bezahlst, wird deine Kasse sofort wieder freigeschaltet.'),
      h('div', { class: 'actions' },
        overdue > 0 ? h('a', { class: 'btn', href: '#/bezahlen', 'data-testid': 'pay-overdue' }, `Alle überfälligen bezahlen (${money(overdue, cur)})`) : null,
        h('a', { class: 'btn btn-secondary', href: '#/rechnungen?status=open', 'data-testid': 'open-invoices' }, 'Offene Rechnungen ansehen')));
  }
  return h('section', { class: 'banner banner-active', 'data-testid': 'account-banner', 'data-status': 'active' },
    h('p', null, h('strong', null, 'Deine Kasse ist freigeschaltet.')));
}

export function supportContact(s) {
  if (!s) return null;
  return h('ul', { class: 'contact' },
    s.email ? h('li', null, h('span', { class: 'k' }, 'E-Mail'), h('a', { href: `mailto:${s.email}` }, s.email)) : null,
    s.phone ? h('li', null, h('span', { class: 'k' }, 'Telefon'), h('a', { href: `tel:${String(s.phone).replace(/[^+\d]/g, '')}` }, s.phone)) : null,
    s.hours ? h('li', null, h('span', { class: 'k' }, 'Erreichbar'), h('span', null, s.hours)) : null);
}
