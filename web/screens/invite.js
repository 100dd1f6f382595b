// #/einladung/<token>: set a password for the invited address, then straight in.

import { h } from '../lib/dom.js';
import { fmtDateTime } from '../lib/format.js';
import { NET_MSG, getConfig, publicApi, session, signIn } from '../lib/api.js';
import { flash, navigate, show, showLoading } from '../lib/router.js';
import { busy, errorBox, field, formError, heading, supportContact } from '../lib/ui.js';
import { passwordPair } from '../lib/password.js';

export async function view(ctx, token) {
  const path = `/invitations/${encodeURIComponent(token)}`;
  showLoading('Einladung wird geprüft …');
  let inv;
  try {
    inv = await publicApi('GET', path);
  } catch (e) {
    if (!ctx.alive()) return;
    if (e.status === 0 || e.status >= 500) throw e;
    if (e.status === 404) {
      // Used (the usual case), revoked or unknown: the owner most likely has a password.
      flash('Diese Einladung ist schon benutzt oder nicht mehr gültig. Hast du dein Passwort schon festgelegt? Dann melde dich hier an. Sonst schicken wir dir über den Support gern eine neue Einladung.', 'info');
      navigate('#/anmelden', true);
      return;
    }
    const box = h('div', { class: 'support-mini' });
    show(ctx, 'Einladung',
      h('section', { class: 'card narrow' },
        heading('Einladung annehmen'),
        h('p', { class: 'form-error', role: 'alert', 'data-testid': 'form-error' }, e.message),
        h('p', null, 'Bitte wende dich an unseren Support, damit wir dir eine neue Einladung schicken.'),
        box,
        h('p', null, h('a', { href: '#/anmelden' }, 'Du hast schon ein Passwort? Zur Anmeldung'))));
    getConfig().then((c) => { if (ctx.alive()) box.append(supportContact(c.support)); }, () => {});
    return;
  }

  const err = errorBox();
  let sending = false;
  const submit = h('button', { type: 'submit', class: 'btn', 'data-testid': 'accept-submit', disabled: true }, 'Passwort festlegen');
  const pair = passwordPair('inv', 'password', 'password-repeat', (ok) => { submit.disabled = !ok || sending; });
  submit.setAttribute('aria-describedby', pair.state.missingId);
  const email = h('input', {
    id: 'inv-email', type: 'email', readonly: true, autocomplete: 'username',
    'data-testid': 'invite-email', value: inv.email,
  });

  const form = h('form', { novalidate: true, 'aria-describedby': 'inv-intro' },
    field('inv-email', 'E-Mail', email, 'An diese Adresse ist dein Zugang gebunden.'),
    pair.node,
    err,
    pair.missingLine,
    h('div', { class: 'actions' }, submit));

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (sending || !pair.state.ok) return;
    sending = true;
    formError(err, '');
    const restore = busy(submit, 'Passwort wird gespeichert …');
    const password = pair.state.value;
    try {
      const res = await publicApi('POST', `${path}/accept`, { password });
      session.lastEmail = (res && res.email) || inv.email;
    } catch (e) {
      sending = false;
      restore();
      submit.disabled = !pair.state.ok;
      formError(err, e.message);
      return;
    }
    submit.textContent = 'Anmeldung läuft …';
    try {
      await signIn(session.lastEmail, password);
      flash(`Willkommen, ${inv.store_name}! Dein Zugang ist eingerichtet.`, 'ok');
      navigate('#/profil', true);
    } catch (e) {
      flash(`Dein Passwort ist gespeichert. Bitte melde dich jetzt an. ${e.status === 0 ? NET_MSG : ''}`.trim(), 'info');
      navigate('#/anmelden', true);
    }
  });

  show(ctx, 'Einladung annehmen',
    h('section', { class: 'card narrow' },
      heading('Einladung annehmen'),
      h('p', { class: 'lead', id: 'inv-intro' },
        'Lege dein Passwort für das SIDES Kundenportal fest. Wir speichern es nicht bei SIDES – bitte merke es dir gut.'),
      h('div', { class: 'store-box' },
        h('span', { class: 'eyebrow' }, 'Einladung für'),
        h('strong', { 'data-testid': 'invite-store' }, inv.store_name),
        inv.expires_at ? h('span', { class: 'hint' }, `Gültig bis ${fmtDateTime(inv.expires_at)} Uhr`) : null),
      form));
}
