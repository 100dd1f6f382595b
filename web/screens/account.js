// #/konto: the owner's own account – billing data, e-mail, password, sign-in with a one-time
// code, the accountant's address, the year's documents as ZIP, and what happened on the account.

import { h, spinner } from '../lib/dom.js';
import { fmtDateTime } from '../lib/format.js';
import { api, clearTokens, session } from '../lib/api.js';
import { flash, load, navigate, notify, show } from '../lib/router.js';
import { busy, errorBox, field, formError } from '../lib/ui.js';
import { passwordPair } from '../lib/password.js';
import { lockWarning } from './lock-warning.js';

const input = (id, testid, props = {}) => h('input', { id, type: 'text', 'data-testid': testid, spellcheck: 'false', ...props });

// A form whose submit runs `send`; the error shows inside the form, success as the notice.
function wire(form, submit, err, label, send) {
  let sending = false;
  form.addEventListener('input', () => { if (!sending) formError(err, ''); });
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (sending) return;
    sending = true;
    formError(err, '');
    const restore = busy(submit, label);
    try {
      await send();
    } catch (e) {
      if (!e.silent) formError(err, e.message);
    } finally {
      sending = false;
      restore();
    }
  });
}

function card(id, title, ...kids) {
  return h('section', { class: 'card', 'aria-labelledby': id, 'data-testid': id },
    h('h2', { id }, title), ...kids);
}

// ---- Rechnungsdaten

function billingCard(p, update) {
  const s = p.store || {};
  const a = s.address || {};
  const street = input('acc-street', 'account-street', { value: a.street || '', autocomplete: 'street-address', required: true });
  const postal = input('acc-postal', 'account-postal-code', { value: a.postal_code || '', autocomplete: 'postal-code', inputmode: 'numeric', required: true });
  const city = input('acc-city', 'account-city', { value: a.city || '', autocomplete: 'address-level2', required: true });
  const vat = input('acc-vat', 'account-vat-id', { value: s.vat_id || '' });
  const err = errorBox('billing-error');
  const submit = h('button', { type: 'submit', class: 'btn', 'data-testid': 'billing-save' }, 'Rechnungsdaten speichern');
  const form = h('form', { novalidate: true },
    field('acc-street', 'Straße und Hausnummer', street),
    h('div', { class: 'row2' },
      field('acc-postal', 'PLZ', postal),
      field('acc-city', 'Ort', city)),
    field('acc-vat', 'USt-IdNr. (optional)', vat, 'Zum Beispiel DE123456788. Leer lassen, wenn du keine hast.'),
    err,
    h('div', { class: 'actions' }, submit));
  wire(form, submit, err, 'Wird gespeichert …', async () => {
    const body = {
      address: { street: street.value.trim(), postal_code: postal.value.trim(), city: city.value.trim() },
      vat_id: vat.value.trim() || null,
    };
    update(await api('PATCH', '/profile', body), 'Deine Rechnungsdaten sind gespeichert. Sie gelten für alle Belege, die ab jetzt ausgestellt werden.');
  });
  return card('billing-h', 'Rechnungsdaten',
    h('p', { class: 'hint' }, 'Änderungen gelten für Rechnungen und Belege, die ab jetzt ausgestellt werden. Bereits ausgestellte bleiben, wie sie sind.'),
    form);
}

// ---- E-Mail-Adresse (Anmeldung und Rechnungen)

function emailCard(p, update) {
  const current = (p.store || {}).billing_email || '';
  const err = errorBox('email-error');
  const email = h('input', { id: 'acc-new-email', type: 'email', autocomplete: 'email', inputmode: 'email', 'data-testid': 'email-new', required: true, spellcheck: 'false' });
  const send = h('button', { type: 'submit', class: 'btn btn-secondary', 'data-testid': 'email-send' }, 'Code senden');
  const code = h('input', { id: 'acc-email-code', type: 'text', autocomplete: 'one-time-code', inputmode: 'numeric', maxlength: '6', 'data-testid': 'email-code', required: true });
  const confirm = h('button', { type: 'submit', class: 'btn', 'data-testid': 'email-confirm' }, 'Neue Adresse bestätigen');
  const codeErr = errorBox('email-code-error');
  const codeForm = h('form', { novalidate: true, hidden: true },
    field('acc-email-code', 'Code aus der E-Mail an die neue Adresse', code),
    codeErr,
    h('div', { class: 'actions' }, confirm));
  const form = h('form', { novalidate: true },
    field('acc-new-email', 'Neue E-Mail-Adresse', email),
    err,
    h('div', { class: 'actions' }, send));
  wire(form, send, err, 'Wird gesendet …', async () => {
    const value = email.value.trim();
    if (!value.includes('@')) throw new Error('Bitte gib eine gültige E-Mail-Adresse ein.');
    await api('POST', '/profile/email-change', { new_email: value });
    codeForm.hidden = false;
    notify(`Wir haben dir einen Code an ${value} geschickt. Er gilt 30 Minuten.`, 'ok');
    code.focus();
  });
  wire(codeForm, confirm, codeErr, 'Wird bestätigt …', async () => {
    const fresh = await api('POST', '/profile/email-change/confirm', { code: code.value.trim() });
    session.lastEmail = fresh.store.billing_email;
    update(fresh, `Deine E-Mail-Adresse ist jetzt ${fresh.store.billing_email}. Du meldest dich ab sofort damit an.`);
  });
  return card('email-h', 'E-Mail-Adresse',
    h('p', null, 'Aktuell: ', h('strong', { 'data-testid': 'email-current' }, current)),
    h('p', { class: 'hint' }, 'Mit dieser Adresse meldest du dich an, und an sie gehen deine Rechnungen. Zur neuen Adresse schicken wir einen Code.'),
    form, codeForm);
}

// ---- Passwort

function passwordCard() {
  const err = errorBox('password-error');
  const current = h('input', { id: 'acc-pw-current', type: 'password', autocomplete: 'current-password', 'data-testid': 'password-current', required: true });
  const submit = h('button', { type: 'submit', class: 'btn', 'data-testid': 'password-save', disabled: true }, 'Passwort ändern');
  const extra = () => (current.value ? [] : ['dein aktuelles Passwort']);
  const pair = passwordPair('acc', 'password-new', 'password-repeat', (ok) => { submit.disabled = !ok; }, extra);
  submit.setAttribute('aria-describedby', pair.state.missingId);
  current.addEventListener('input', pair.update);
  const form = h('form', { novalidate: true },
    field('acc-pw-current', 'Aktuelles Passwort', current),
    pair.node,
    err,
    pair.missingLine,
    h('div', { class: 'actions' }, submit));
  wire(form, submit, err, 'Passwort wird geändert …', async () => {
    if (!pair.state.ok) return;
    await api('POST', '/auth/change-password', { current_password: current.value, new_password: pair.state.value });
    clearTokens();
    flash('Dein Passwort ist geändert, und alle Sitzungen sind beendet. Melde dich mit dem neuen Passwort an.', 'ok');
    session.returnTo = '#/konto';
    navigate('#/anmelden', true);
  });
  return card('password-h', 'Passwort',
    h('p', { class: 'hint' }, 'Nach der Änderung wirst du überall abgemeldet – auch auf anderen Geräten.'),
    form);
}

// ---- Zwei-Faktor (TOTP)

function mfaCard(p, update) {
  const err = errorBox('mfa-error');
  const body = h('div');
  const codeInput = (id) => h('input', { id, type: 'text', autocomplete: 'one-time-code', inputmode: 'numeric', maxlength: '6', pattern: '[0-9]{6}', 'data-testid': 'mfa-code', required: true });

  const off = () => {
    const start = h('button', { type: 'button', class: 'btn btn-secondary', 'data-testid': 'mfa-setup' }, 'Einrichten');
    start.addEventListener('click', async () => {
      const restore = busy(start, 'Wird vorbereitet …');
      formError(err, '');
      try {
        const s = await api('POST', '/auth/mfa/setup');
        setup(s);
      } catch (e) {
        restore();
        if (!e.silent) formError(err, e.message);
      }
    });
    body.replaceChildren(
      h('p', { 'data-testid': 'mfa-state' }, 'Ausgeschaltet. Du meldest dich nur mit deinem Passwort an.'),
      h('p', { class: 'hint' }, 'Mit einer Authenticator-App (z. B. Google Authenticator, Microsoft Authenticator oder 1Password) fragt die Anmeldung zusätzlich nach einem Code, der alle 30 Sekunden wechselt.'),
      err, h('div', { class: 'actions' }, start));
  };

  const setup = (s) => {
    const code = codeInput('acc-mfa-code');
    const confirm = h('button', { type: 'submit', class: 'btn', 'data-testid': 'mfa-enable' }, 'Einschalten');
    const form = h('form', { novalidate: true },
      field('acc-mfa-code', 'Code aus der App', code, 'Sechs Ziffern.'),
      err, h('div', { class: 'actions' }, confirm));
    wire(form, confirm, err, 'Wird geprüft …', async () => {
      update(await api('POST', '/auth/mfa/verify', { code: code.value.trim() }), 'Die Anmeldung mit Einmalcode ist eingeschaltet.');
    });
    const img = s.qr_svg
      ? h('img', { class: 'qr', src: `data:image/svg+xml;base64,${btoa(unescape(encodeURIComponent(s.qr_svg)))}`, alt: 'QR-Code zum Einrichten der Authenticator-App', 'data-testid': 'mfa-qr', width: '180', height: '180' })
      : null;
    body.replaceChildren(
      h('ol', { class: 'steps' },
        h('li', null, 'Scanne den QR-Code mit deiner Authenticator-App.'),
        h('li', null, 'Oder gib diesen Schlüssel von Hand ein: ', h('code', { class: 'secret', 'data-testid': 'mfa-secret' }, s.secret)),
        h('li', null, 'Gib den Code ein, den die App jetzt zeigt.')),
      img, form);
    code.focus();
  };

  const on = () => {
    const code = codeInput('acc-mfa-off-code');
    const stop = h('button', { type: 'submit', class: 'btn btn-warning', 'data-testid': 'mfa-disable' }, 'Ausschalten');
    const form = h('form', { novalidate: true },
      field('acc-mfa-off-code', 'Code aus der App zum Ausschalten', code),
      err, h('div', { class: 'actions' }, stop));
    wire(form, stop, err, 'Wird ausgeschaltet …', async () => {
      update(await api('DELETE', '/auth/mfa', { code: code.value.trim() }), 'Die Anmeldung mit Einmalcode ist ausgeschaltet.');
    });
    body.replaceChildren(
      h('p', { 'data-testid': 'mfa-state' }, h('strong', null, 'Eingeschaltet.'), ' Die Anmeldung fragt nach dem Code aus deiner Authenticator-App.'),
      h('p', { class: 'hint' }, 'Handy verloren? Der SIDES Support kann die Anmeldung mit Einmalcode für dich zurücksetzen.'),
      form);
  };

  if (p.mfa_enabled) on(); else off();
  return card('mfa-h', 'Anmeldung mit Einmalcode', body);
}

// ---- Steuerberatung

function accountantCard(p, update) {
  const err = errorBox('accountant-error');
  const email = h('input', { id: 'acc-accountant', type: 'email', inputmode: 'email', autocomplete: 'off', 'data-testid': 'accountant-email', value: p.accountant_email || '', spellcheck: 'false' });
  const save = h('button', { type: 'submit', class: 'btn btn-secondary', 'data-testid': 'accountant-save' }, 'Speichern');
  const form = h('form', { novalidate: true },
    field('acc-accountant', 'E-Mail-Adresse deiner Steuerberatung (optional)', email, 'Leer lassen, damit nichts weitergeleitet wird.'),
    err, h('div', { class: 'actions' }, save));
  wire(form, save, err, 'Wird gespeichert …', async () => {
    const value = email.value.trim() || null;
    update(await api('PATCH', '/profile', { accountant_email: value }),
      value ? `Neue Belege gehen ab jetzt auch an ${value}.` : 'Belege werden nicht mehr weitergeleitet.');
  });
  return card('accountant-h', 'Steuerberatung',
    h('p', { class: 'hint' }, 'Jede neue Rechnung, Stornorechnung, Gutschrift und Zahlungsbestätigung schicken wir mit PDF (und E-Rechnung) auch an diese Adresse.'),
    form);
}

// ---- Export

function exportCard() {
  const thisYear = new Date().getFullYear();
  const year = h('select', { id: 'acc-export-year', 'data-testid': 'export-year' },
    [0, 1, 2, 3, 4, 5].map((n) => h('option', { value: String(thisYear - n) }, String(thisYear - n))));
  const start = h('button', { type: 'submit', class: 'btn btn-secondary', 'data-testid': 'export-start' }, 'ZIP erstellen');
  const err = errorBox('export-error');
  const progress = h('p', { class: 'progress', role: 'status', 'data-testid': 'export-progress' });
  const result = h('p', { class: 'actions', 'data-testid': 'export-result', hidden: true });
  const form = h('form', { novalidate: true },
    field('acc-export-year', 'Jahr', year),
    err, h('div', { class: 'actions' }, start), progress, result);
  wire(form, start, err, 'Wird erstellt …', async () => {
    result.hidden = true;
    progress.replaceChildren(spinner(), `Alle Belege aus ${year.value} werden zusammengestellt …`);
    try {
      const link = await api('GET', `/exports/documents?year=${encodeURIComponent(year.value)}`);
      progress.replaceChildren(`Fertig: ${link.filename} ist bereit (der Link gilt ${Math.round(link.expires_in / 60)} Minuten).`);
      result.replaceChildren(h('a', { class: 'btn', href: link.url, download: link.filename, 'data-testid': 'export-download' }, `${link.filename} herunterladen`));
      result.hidden = false;
    } catch (e) {
      progress.replaceChildren();
      throw e;
    }
  });
  return card('export-h', 'Belege für die Buchhaltung',
    h('p', { class: 'hint' }, 'Ein ZIP mit allen Rechnungen, Korrekturen und Zahlungsbestätigungen eines Jahres (PDF und E-Rechnung), einer Übersicht und einem Buchungsstapel im DATEV-Format.'),
    form);
}

// ---- Aktivitäten

function activityCard(first) {
  const list = h('ol', { class: 'activity', 'data-testid': 'activity-list' });
  const more = h('button', { type: 'button', class: 'btn btn-secondary', 'data-testid': 'activity-more' }, 'Ältere anzeigen');
  const err = errorBox('activity-error');
  let cursor = null;
  const add = (page) => {
    for (const item of page.items || []) {
      list.append(h('li', null,
        h('time', { datetime: item.at }, fmtDateTime(item.at)),
        h('span', null, item.summary)));
    }
    cursor = page.next_cursor;
    more.hidden = !cursor;
    if (!list.children.length) list.append(h('li', { class: 'empty' }, 'Noch keine Einträge.'));
  };
  more.addEventListener('click', async () => {
    const restore = busy(more, 'Wird geladen …');
    try {
      add(await api('GET', `/activity?cursor=${encodeURIComponent(cursor)}`));
    } catch (e) {
      if (!e.silent) formError(err, e.message);
    } finally {
      restore();
      more.hidden = !cursor;
    }
  });
  add(first);
  return card('activity-h', 'Aktivitäten',
    h('p', { class: 'hint' }, 'Was auf deinem Konto passiert ist, das Neueste zuerst.'),
    list, err, h('div', { class: 'actions' }, more));
}

export async function view(ctx) {
  const data = await load(ctx, () => Promise.all([api('GET', '/profile'), api('GET', '/activity')]));
  if (!data) return;
  const [p, activity] = data;
  // After a change: show the new state (and the new log) with the message as the notice.
  const update = (fresh, message) => {
    flash(message, 'ok');
    navigate('#/konto', true);
    return fresh;
  };
  show(ctx, 'Konto',
    h('h1', { tabindex: '-1', class: 'page-title' }, 'Dein Konto'),
    lockWarning(p),
    h('div', { class: 'grid2 account' },
      billingCard(p, update),
      h('div', null, emailCard(p, update), accountantCard(p, update))),
    h('div', { class: 'grid2 account' },
      passwordCard(),
      mfaCard(p, update)),
    h('div', { class: 'grid2 account' },
      exportCard(),
      activityCard(activity)));
}
