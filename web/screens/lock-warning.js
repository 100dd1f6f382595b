// The till's lock announced ahead (Profile.lock_warning): the day and the amount, with the way
// to pay. Shown on the profile and the account screen.

import { h } from '../lib/dom.js';
import { fmtDate, money } from '../lib/format.js';

export function lockWarning(p) {
  const w = p && p.lock_warning;
  if (!w || p.account_status === 'blocked') return null;
  const day = fmtDate(w.date).slice(0, 6); // "14.12."
  const amount = money(w.amount_cents, p.currency || 'EUR');
  return h('section', { class: 'banner banner-warn', 'data-testid': 'lock-warning', 'aria-labelledby': 'lock-warning-h' },
    h('h2', { id: 'lock-warning-h' }, 'Zahlung nötig'),
    h('p', null, `Deine Kasse wird am ${day} gesperrt, wenn ${amount} bis dahin nicht bezahlt sind.`),
    h('div', { class: 'actions' },
      h('a', { class: 'btn', href: '#/bezahlen', 'data-testid': 'lock-warning-pay' }, `Jetzt ${amount} bezahlen`)));
}
