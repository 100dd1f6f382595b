// The saved card and automatic charges (profile). Stripe only confirms the SetupIntent; what is
// saved is decided by the backend (/payment-method/card/confirm reads the SetupIntent from
// Stripe). Saving a card turns the automatic monthly charge on; the texts say so.

import { h, spinner } from '../lib/dom.js';
import { api, getConfig } from '../lib/api.js';
import { notify } from '../lib/router.js';
import { busy, button, errorBox, flowUi, formError } from '../lib/ui.js';
import { CARD_ERR, PAY_FAIL, STRIPE_HINT, cardElement, cardErrText, cardField, stripeFor } from './stripe.js';

const SAVE_TEXT = 'Karte speichern und die monatliche Lizenz automatisch abbuchen';
const SETUP_3DS = 'Die Bestätigung (3-D Secure) wurde abgebrochen. Die Karte wurde nicht gespeichert.';
const BRANDS = { amex: 'American Express', diners: 'Diners Club', jcb: 'JCB', unionpay: 'UnionPay', unknown: 'Karte' };
const brandName = (b) => BRANDS[b] || (b ? b[0].toUpperCase() + b.slice(1) : 'Karte');
// Real Stripe.js: code setup_intent_authentication_failure; the local stand-in: only a message.
const setupErrText = (e) => (/authentication.fail/i.test(`${e.code} ${e.message}`) ? SETUP_3DS
  : e.code === 'card_declined' ? 'Deine Karte wurde abgelehnt. Bitte nutze eine andere Karte.'
    : (e.code !== 'insufficient_funds' && PAY_FAIL[e.code]) || 'Die Karte konnte nicht gespeichert werden. Bitte prüfe deine Kartendaten und versuche es erneut.');

export function pmSection(p) {
  const sec = h('section', { class: 'card pm', 'data-testid': 'payment-method', 'aria-labelledby': 'pm-h' });
  sec.v = 0;
  pmShow(sec, p);
  return sec;
}

// New content under the heading; every call ends what was running in the section before.
function pmBody(sec, ...kids) {
  sec.replaceChildren(h('h2', { id: 'pm-h', tabindex: '-1' }, 'Zahlungsmethode'), ...kids.flat(9).filter(Boolean));
  return ++sec.v;
}

// o: {saved: just saved (ask for autopay), focus: data-testid to focus, err: message}
function pmShow(sec, p, o = {}) {
  const pm = p.payment_method;
  let kids;
  if (!pm) {
    const add = button('save-card', 'Karte speichern');
    add.addEventListener('click', () => pmSetup(sec, p));
    kids = [h('p', { 'data-testid': 'no-card' }, 'Noch keine Karte hinterlegt.'),
      h('p', { class: 'hint' }, 'Mit einer gespeicherten Karte buchen wir die monatliche Lizenz automatisch ab. Ausschalten kannst du das jederzeit hier.'),
      h('div', { class: 'actions' }, add)];
  } else {
    const hint = o.saved && !p.autopay;
    const toggle = h('input', { type: 'checkbox', id: 'autopay', class: 'switch', 'data-testid': 'autopay-toggle', checked: Boolean(p.autopay), 'aria-describedby': hint ? 'autopay-hint' : null });
    const apErr = h('p', { class: 'form-error', role: 'alert', 'data-testid': 'autopay-error', hidden: true });
    const other = button('replace-card', 'Neue Karte hinterlegen', 'secondary');
    const rm = button('remove-card', 'Karte entfernen', 'secondary');
    const acts = h('div', { class: 'actions' }, other, rm);
    toggle.addEventListener('change', async () => {
      const on = toggle.checked;
      const v = sec.v;
      toggle.disabled = true;
      formError(apErr, '');
      try {
        const np = await api('PUT', '/autopay', { enabled: on });
        if (sec.v !== v || !sec.isConnected) return;
        notify(`Automatische Abbuchung ist ${np.autopay ? 'an' : 'aus'}.`, 'ok');
        pmShow(sec, np, { focus: 'autopay-toggle' });
      } catch (e) {
        if (e.silent || sec.v !== v) return;
        toggle.checked = !on;
        toggle.disabled = false;
        formError(apErr, e.message);
        if (e.status === 409) api('GET', '/profile').then((np) => { if (sec.isConnected) pmShow(sec, np, { err: e.message, focus: 'save-card' }); }, () => {});
      }
    });
    other.addEventListener('click', () => pmSetup(sec, p));
    rm.addEventListener('click', () => {
      const yes = button('remove-card-confirm', 'Ja, Karte entfernen', 'danger');
      const no = button('remove-card-cancel', 'Abbrechen', 'secondary');
      const err = errorBox();
      const box = h('div', { class: 'confirm', role: 'group', 'aria-labelledby': 'rm-q' },
        h('p', { id: 'rm-q' }, 'Karte wirklich entfernen? Sie wird gelöscht und die automatische Abbuchung ausgeschaltet.'), err,
        h('div', { class: 'actions' }, yes, no));
      no.addEventListener('click', () => { box.replaceWith(acts); rm.focus(); });
      yes.addEventListener('click', async () => {
        if (yes.disabled) return;
        const restore = busy(yes, 'Wird entfernt …');
        no.disabled = true;
        try {
          const np = await api('DELETE', '/payment-method');
          if (!sec.isConnected) return;
          notify('Karte entfernt. Die automatische Abbuchung ist aus.', 'ok');
          pmShow(sec, np, { focus: 'save-card' });
        } catch (e) {
          if (e.silent) return;
          restore();
          no.disabled = false;
          formError(err, e.message);
        }
      });
      acts.replaceWith(box);
      no.focus();
    });
    kids = [h('p', { class: 'saved-card', 'data-testid': 'saved-card' },
      h('strong', null, `${brandName(pm.brand)} •••• ${pm.last4}`), `, gültig bis ${String(pm.exp_month).padStart(2, '0')}/${pm.exp_year}`),
    pm.expires_before_next_run ? h('p', { class: 'warn', 'data-testid': 'card-expiring' }, 'Deine Karte läuft vor der nächsten Abbuchung ab. Bitte hinterlege eine neue Karte.') : null,
    h('div', { class: 'switch-row' }, toggle, h('label', { for: 'autopay' }, 'Monatliche Lizenz automatisch abbuchen')),
    hint ? h('p', { class: 'pay-info', id: 'autopay-hint', 'data-testid': 'autopay-hint' }, 'Schalte die automatische Abbuchung ein, damit die monatliche Lizenz von selbst bezahlt wird.')
      : h('p', { class: 'hint' }, p.autopay ? 'Die monatliche Lizenz wird automatisch von dieser Karte abgebucht.' : 'Aus: Du bezahlst deine Rechnungen selbst hier im Portal.'),
    apErr, acts];
  }
  pmBody(sec, o.err ? h('p', { class: 'form-error', role: 'alert', 'data-testid': 'pm-error' }, o.err) : null, kids);
  if (o.focus) sec.querySelector(`[data-testid="${o.focus}"]`)?.focus();
}

async function pmSetup(sec, p) {
  let v = pmBody(sec, h('p', { class: 'loading' }, spinner(), 'Kartenformular wird geladen …'));
  let stripe;
  try {
    stripe = await stripeFor(await getConfig());
  } catch {
    if (sec.v === v) pmShow(sec, p, { err: 'Das Kartenformular konnte nicht geladen werden. Bitte versuche es erneut.' });
    return;
  }
  if (sec.v !== v || !sec.isConnected) return;
  const cf = cardField('setup-card');
  const cardErr = cf.error;
  const error = h('p', { class: 'form-error', role: 'alert', 'data-testid': 'setup-error', hidden: true });
  const progress = h('p', { class: 'pay-progress', 'data-testid': 'setup-progress', role: 'status', hidden: true });
  const submit = button('setup-submit', SAVE_TEXT, 'primary', 'submit');
  const back = button('setup-cancel', 'Abbrechen', 'secondary');
  const form = h('form', { novalidate: true, class: 'pay-form', 'aria-labelledby': 'pm-h' },
    cf.node,
    h('p', { class: 'hint' }, 'Ab dem Speichern buchen wir die monatliche Lizenz automatisch von dieser Karte ab; ausschalten kannst du das jederzeit hier. ', STRIPE_HINT, ' Deine Bank fragt eventuell nach einer Bestätigung (3-D Secure).'),
    error, progress, h('div', { class: 'actions' }, submit, back));
  v = pmBody(sec, form);
  const card = cardElement(stripe);
  card.mount(cf.mount);
  const ui = flowUi([submit, back], progress, error, submit);
  let running = false;
  let siId = null; // succeeded at Stripe, not yet confirmed by the backend (network trouble)
  const stop = (cardMsg, msg) => {
    ui.progress('');
    ui.lock(false);
    formError(cardErr, cardMsg);
    ui.error(msg);
    if (document.activeElement === document.body) submit.focus();
  };
  card.on('change', (ev) => { if (!running) formError(cardErr, ev && ev.error ? cardErrText(ev.error) : ''); });
  back.addEventListener('click', () => { if (!running) pmShow(sec, p, { focus: p.payment_method ? 'replace-card' : 'save-card' }); });
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (running) return;
    running = true;
    formError(cardErr, '');
    ui.error('');
    ui.lock(true);
    try {
      if (!siId) {
        ui.progress('Karte wird geprüft …');
        const secret = (await api('POST', '/payment-method/card')).setup_intent_client_secret;
        const r = await Promise.resolve().then(() => stripe.confirmCardSetup(secret, { payment_method: { card } })).catch((e) => ({ error: e }));
        if (sec.v !== v) return;
        if (!r || !r.setupIntent) {
          const e = (r && r.error) || {};
          if (CARD_ERR[e.code] || e.type === 'validation_error') stop(cardErrText(e), '');
          else stop('', setupErrText(e));
          return;
        }
        siId = r.setupIntent.id;
      }
      ui.progress('Karte wird gespeichert …');
      const np = await api('POST', '/payment-method/card/confirm', { setup_intent_id: siId });
      if (sec.v !== v || !sec.isConnected) return;
      notify('Karte gespeichert.', 'ok');
      pmShow(sec, np, { saved: true, focus: 'autopay-toggle' });
    } catch (e) {
      if (e.silent || sec.v !== v) return;
      if (e.status && e.status < 500) siId = null; // refused: the next try starts a new setup
      stop('', e.message);
    } finally {
      running = false;
    }
  });
  sec.querySelector('#pm-h').focus();
}

