// #/anmelden

import { h } from '../lib/dom.js';
import { session, signIn } from '../lib/api.js';
import { navigate, notify, show } from '../lib/router.js';
import { busy, errorBox, field, formError, heading } from '../lib/ui.js';

export function view(ctx) {
  const err = errorBox();
  const email = h('input', { id: 'login-email', type: 'email', autocomplete: 'username', inputmode: 'email', 'data-testid': 'login-email', value: session.lastEmail, required: true, spellcheck: 'false' });
  const pw = h('input', { id: 'login-pw', type: 'password', autocomplete: 'current-password', 'data-testid': 'login-password', required: true });
  const submit = h('button', { type: 'submit', class: 'btn', 'data-testid': 'login-submit' }, 'Anmelden');
  let sending = false;

  const form = h('form', { novalidate: true },
    field('login-email', 'E-Mail', email),
    field('login-pw', 'Passwort', pw),
    err,
    h('div', { class: 'actions spread' },
      submit,
      h('a', { href: '#/passwort-vergessen', 'data-testid': 'forgot-link' }, 'Passwort vergessen?')));

  // One message at a time: the error replaces whatever the notice said before.
  const fail = (msg) => {
    notify('');
    formError(err, msg);
  };

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (sending) return;
    const e = email.value.trim();
    if (!e || !pw.value) {
      fail('Bitte gib deine E-Mail-Adresse und dein Passwort ein.');
      (e ? pw : email).focus();
      return;
    }
    sending = true;
    formError(err, '');
    const restore = busy(submit, 'Anmeldung läuft …');
    try {
      const step = await signIn(e, pw.value);
      if (step.mfaSession) {
        import('./login-mfa.js').then((m) => m.view(ctx, step.mfaSession));
        return;
      }
      const target = session.returnTo && !session.returnTo.startsWith('#/anmelden') ? session.returnTo : '#/profil';
      session.returnTo = null;
      navigate(target, true);
    } catch (x) {
      sending = false;
      restore();
      fail(x.message);
      pw.select();
    }
  });

  show(ctx, 'Anmelden',
    h('section', { class: 'card narrow' },
      heading('Anmelden', 'Melde dich mit der E-Mail-Adresse an, an die deine Einladung ging.'),
      form));
}
