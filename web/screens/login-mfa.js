// The second step of signing in when the owner turned on the one-time code (TOTP).

import { h } from '../lib/dom.js';
import { session, signInMfa } from '../lib/api.js';
import { navigate, notify, show } from '../lib/router.js';
import { busy, errorBox, field, formError, heading } from '../lib/ui.js';

export function view(ctx, mfaSession) {
  notify('');
  const err = errorBox();
  const code = h('input', { id: 'login-code', type: 'text', autocomplete: 'one-time-code', inputmode: 'numeric', maxlength: '6', pattern: '[0-9]{6}', 'data-testid': 'login-code', required: true });
  const submit = h('button', { type: 'submit', class: 'btn', 'data-testid': 'login-code-submit' }, 'Bestätigen');
  let sending = false;
  const form = h('form', { novalidate: true },
    field('login-code', 'Code aus deiner Authenticator-App', code, 'Sechs Ziffern; der Code wechselt alle 30 Sekunden.'),
    err,
    h('div', { class: 'actions spread' }, submit, h('a', { href: '#/anmelden', onclick: () => navigate('#/anmelden', true) }, 'Zurück zur Anmeldung')));

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (sending) return;
    const c = code.value.replace(/\s/g, '');
    if (!/^\d{6}$/.test(c)) {
      notify('');
      formError(err, 'Bitte gib die sechs Ziffern aus deiner App ein.');
      code.focus();
      return;
    }
    sending = true;
    formError(err, '');
    const restore = busy(submit, 'Wird geprüft …');
    try {
      await signInMfa(mfaSession, c);
      const target = session.returnTo && !session.returnTo.startsWith('#/anmelden') ? session.returnTo : '#/profil';
      session.returnTo = null;
      navigate(target, true);
    } catch (x) {
      sending = false;
      restore();
      notify('');
      formError(err, x.status === 401 ? 'Der Code stimmt nicht oder ist abgelaufen. Melde dich bitte noch einmal an.' : x.message);
      code.select();
    }
  });

  show(ctx, 'Anmelden',
    h('section', { class: 'card narrow' },
      heading('Code eingeben', 'Für dein Konto ist die Anmeldung mit Einmalcode eingeschaltet.'),
      form));
  code.focus();
}
