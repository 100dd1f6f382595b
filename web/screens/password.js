// #/passwort-vergessen and #/passwort-zuruecksetzen

import { h } from '../lib/dom.js';
import { publicApi, session } from '../lib/api.js';
import { flash, navigate, notify, show } from '../lib/router.js';
import { busy, errorBox, field, formError, heading } from '../lib/ui.js';
import { passwordPair } from '../lib/password.js';

export function viewForgot(ctx) {
  const err = errorBox();
  const email = h('input', { id: 'forgot-email', type: 'email', autocomplete: 'username', inputmode: 'email', 'data-testid': 'forgot-email', value: session.lastEmail, required: true, spellcheck: 'false' });
  const submit = h('button', { type: 'submit', class: 'btn', 'data-testid': 'forgot-submit' }, 'Code anfordern');
  let sending = false;
  const form = h('form', { novalidate: true },
    field('forgot-email', 'E-Mail', email),
    err,
    h('div', { class: 'actions spread' }, submit, h('a', { href: '#/anmelden' }, 'Zurück zur Anmeldung')));

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (sending) return;
    const e = email.value.trim();
    if (!e.includes('@')) {
      notify('');
      formError(err, 'Bitte gib eine gültige E-Mail-Adresse ein.');
      email.focus();
      return;
    }
    sending = true;
    formError(err, '');
    const restore = busy(submit, 'Wird gesendet …');
    try {
      await publicApi('POST', '/auth/forgot-password', { email: e });
      session.lastEmail = e;
      flash('Falls zu dieser E-Mail-Adresse ein Zugang besteht, haben wir dir einen Code geschickt. Schau auch im Spam-Ordner nach.', 'ok');
      navigate('#/passwort-zuruecksetzen');
    } catch (x) {
      sending = false;
      restore();
      notify('');
      formError(err, x.message);
    }
  });

  show(ctx, 'Passwort vergessen',
    h('section', { class: 'card narrow' },
      heading('Passwort vergessen?', 'Kein Problem. Gib deine E-Mail-Adresse ein, wir schicken dir einen Code, mit dem du ein neues Passwort festlegst.'),
      form));
}

export function viewReset(ctx) {
  const err = errorBox();
  const submit = h('button', { type: 'submit', class: 'btn', 'data-testid': 'reset-submit', disabled: true }, 'Passwort ändern');
  let sending = false;
  const email = h('input', { id: 'reset-email', type: 'email', autocomplete: 'username', inputmode: 'email', 'data-testid': 'reset-email', value: session.lastEmail, required: true, spellcheck: 'false' });
  const code = h('input', { id: 'reset-code', type: 'text', autocomplete: 'one-time-code', inputmode: 'numeric', 'data-testid': 'reset-code', required: true, spellcheck: 'false' });
  const extra = () => [
    ...(email.value.trim() ? [] : ['deine E-Mail-Adresse']),
    ...(code.value.trim() ? [] : ['der Code aus der E-Mail']),
  ];
  const pair = passwordPair('reset', 'reset-password', 'reset-password-repeat', (ok) => { submit.disabled = !ok || sending; }, extra);
  submit.setAttribute('aria-describedby', pair.state.missingId);
  email.addEventListener('input', pair.update);
  code.addEventListener('input', pair.update);

  const form = h('form', { novalidate: true },
    field('reset-email', 'E-Mail', email),
    field('reset-code', 'Code aus der E-Mail', code),
    pair.node,
    err,
    pair.missingLine,
    h('div', { class: 'actions spread' }, submit, h('a', { href: '#/passwort-vergessen' }, 'Neuen Code anfordern')));

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (sending || !pair.state.ok) return;
    sending = true;
    formError(err, '');
    const restore = busy(submit, 'Passwort wird gespeichert …');
    const e = email.value.trim();
    try {
      await publicApi('POST', '/auth/reset-password', { email: e, code: code.value.trim(), password: pair.state.value });
      session.lastEmail = e;
      flash('Passwort geändert. Du kannst dich jetzt mit deinem neuen Passwort anmelden.', 'ok');
      navigate('#/anmelden');
    } catch (x) {
      sending = false;
      restore();
      submit.disabled = !pair.state.ok;
      notify('');
      formError(err, x.message);
    }
  });

  show(ctx, 'Neues Passwort',
    h('section', { class: 'card narrow' },
      heading('Neues Passwort festlegen', 'Gib den Code aus der E-Mail ein und wähle ein neues Passwort.'),
      form));
}
