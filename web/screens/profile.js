// #/profil: the store, its balance and account state, the saved card.

import { h } from '../lib/dom.js';
import { fmtCountry, money } from '../lib/format.js';
import { api } from '../lib/api.js';
import { load, show } from '../lib/router.js';
import { accountBanner } from '../lib/ui.js';
import { pmSection } from '../pay/saved-card.js';
import { lockWarning } from './lock-warning.js';

export async function view(ctx) {
  const p = await load(ctx, () => api('GET', '/profile'));
  if (!p) return;
  const s = p.store || {};
  const a = s.address || {};
  const cur = p.currency || 'EUR';
  const row = (k, ...v) => h('div', null, h('dt', null, k), h('dd', null, ...v));
  const open = Number(p.open_balance_cents) || 0;
  const overdue = Number(p.overdue_balance_cents) || 0;

  show(ctx, 'Profil',
    h('h1', { tabindex: '-1', class: 'page-title' }, 'Dein Rechnungsprofil'),
    accountBanner(p),
    lockWarning(p),
    h('div', { class: 'grid2' },
      h('section', { class: 'card', 'aria-labelledby': 'store-h' },
        h('h2', { id: 'store-h', class: 'card-label' }, 'Store'),
        h('p', { class: 'store-name', 'data-testid': 'profile-store-name' }, s.name || '—'),
        h('dl', { class: 'facts' },
          row('Anschrift', h('span', { class: 'addr' },
            a.street || '', h('br'), `${a.postal_code || ''} ${a.city || ''}`.trim(),
            a.country && a.country !== 'DE' ? [h('br'), fmtCountry(a.country)] : null)),
          row('Rechnungs-E-Mail', s.billing_email || '—'),
          row('USt-IdNr.', s.vat_id || '—'))),
      h('section', { class: 'card', 'aria-labelledby': 'bal-h' },
        h('h2', { id: 'bal-h', class: 'card-label' }, 'Offener Betrag'),
        h('p', { class: `balance num${overdue > 0 ? ' due' : ''}`, 'data-testid': 'open-balance' }, money(open, cur)),
        h('p', { class: 'hint' }, open > 0 ? 'Summe deiner offenen Rechnungen.' : 'Alles bezahlt – danke!'),
        overdue > 0 && p.account_status !== 'blocked'
          ? h('p', { class: 'due' }, `Davon überfällig: ${money(overdue, cur)}`) : null,
        h('p', { class: 'actions' }, h('a', { class: 'btn btn-secondary', href: '#/rechnungen' }, 'Alle Rechnungen')))),
    pmSection(p));
}
