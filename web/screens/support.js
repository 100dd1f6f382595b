// #/support: a request to support, optionally about one invoice, and the contact details.

import { h } from '../lib/dom.js';
import { fmtDate, money } from '../lib/format.js';
import { api, getConfig } from '../lib/api.js';
import { load, render, show } from '../lib/router.js';
import { busy, errorBox, field, formError, supportContact } from '../lib/ui.js';

export async function view(ctx) {
  const data = await load(ctx, () => Promise.all([
    getConfig().catch(() => null),
    api('GET', '/invoices?status=all&limit=20').catch((e) => { if (e.silent) throw e; return { items: [] }; }),
  ]));
  if (!data) return;
  const [config, invoices] = data;
  const pre = ctx.params.get('invoice') || '';

  const err = errorBox();
  const subject = h('input', { id: 'sup-subject', type: 'text', maxlength: '200', 'data-testid': 'support-subject', required: true });
  const message = h('textarea', { id: 'sup-message', rows: '6', maxlength: '5000', 'data-testid': 'support-message', required: true });
  const select = h('select', { id: 'sup-invoice', 'data-testid': 'support-invoice' },
    h('option', { value: '' }, 'Keine bestimmte Rechnung'),
    invoices.items.map((i) => h('option', { value: i.id, selected: i.id === pre },
      `${i.number} · ${fmtDate(i.issue_date)} · ${money(i.gross_cents, i.currency)}`)));
  const submit = h('button', { type: 'submit', class: 'btn', 'data-testid': 'support-submit' }, 'Anfrage senden');
  let sending = false;

  const form = h('form', { novalidate: true },
    field('sup-subject', 'Betreff', subject),
    field('sup-message', 'Nachricht', message),
    field('sup-invoice', 'Rechnung (optional)', select),
    err,
    h('div', { class: 'actions' }, submit));

  const formCard = h('section', { class: 'card', 'aria-labelledby': 'form-h' },
    h('h2', { id: 'form-h' }, 'Schreib uns'), form);

  form.addEventListener('input', () => { if (!sending) formError(err, ''); });
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (sending) return;
    const body = { subject: subject.value.trim(), message: message.value.trim() };
    if (!body.subject || !body.message) {
      formError(err, 'Bitte gib einen Betreff und eine Nachricht ein.');
      (body.subject ? message : subject).focus();
      return;
    }
    if (select.value) body.invoice_id = select.value;
    sending = true;
    formError(err, '');
    const restore = busy(submit, 'Wird gesendet …');
    try {
      await api('POST', '/support/requests', body);
      if (!ctx.alive()) return;
      const again = h('button', { type: 'button', class: 'btn btn-secondary' }, 'Weitere Anfrage senden');
      const done = h('section', { class: 'card done', 'data-testid': 'support-done', tabindex: '-1', role: 'status' },
        h('h2', null, 'Danke! Wir melden uns bald.'),
        h('p', null, 'Deine Anfrage ist bei unserem Support-Team angekommen. Die Antwort bekommst du per E-Mail.'),
        h('div', { class: 'actions' }, again));
      again.addEventListener('click', () => render());
      formCard.replaceWith(done);
      done.focus();
    } catch (e) {
      if (e.silent) return;
      sending = false;
      restore();
      formError(err, e.message);
    }
  });

  show(ctx, 'Support',
    h('h1', { tabindex: '-1', class: 'page-title' }, 'Support'),
    h('p', { class: 'lead' }, 'Du hast Fragen zu deinen Rechnungen oder zum Portal? Unser Support-Team hilft dir gern.'),
    h('div', { class: 'grid2 support' },
      formCard,
      h('section', { class: 'card', 'aria-labelledby': 'contact-h' },
        h('h2', { id: 'contact-h' }, 'Kontakt'),
        supportContact(config && config.support) || h('p', null, '—'))));
}

