// Paying one invoice or several at once. Card through Stripe.js (loaded only when the owner
// picks card), PayPal by redirect. The backend is the truth: after every provider step we ask
// it (/complete, GET invoice) instead of trusting what the browser saw.
//
// A pay box (pb) belongs to one target: the invoices paid together (one on the invoice page,
// every overdue one on the pay-all page).

import { enc, h, sleep, spinner } from '../lib/dom.js';
import { fmtDate, money, plural } from '../lib/format.js';
import { FALLBACK_MSG, api, getConfig } from '../lib/api.js';
import { claimScreen, flash, navigate, notify, setPendingPaypal, showLoading, updateNav } from '../lib/router.js';
import { PAY_METHOD, accountBanner, busy, button, flowUi, formError } from '../lib/ui.js';
import { STRIPE_HINT, cardElement, cardErrText, cardField, payFailText, stripeFor } from './stripe.js';

export const payRunning = new Set(); // targets with a payment being started or confirmed in this tab
let payNote = null; // outcome to show once on its target (after the PayPal round trip)

const WAIT_BANK = 'Wir warten noch auf die Bestätigung deiner Bank …';
const WAIT_PAYPAL = 'Wir warten noch auf deine Bestätigung bei PayPal …';
const isOpenPayment = (p) => p.status === 'pending' || p.status === 'requires_action';
const keyOf = (ids) => [...ids].sort().join(',');
const idsOf = (payment) => (payment.invoice_ids && payment.invoice_ids.length ? payment.invoice_ids : [payment.invoice_id]);

export function latestPayment(inv) {
  return (inv.payments || []).reduce((a, p) => (!a || String(p.created_at) > String(a.created_at) ? p : a), null);
}

function safeUrl(u) {
  try {
    const url = new URL(u, location.href);
    return /^https?:$/.test(url.protocol) ? url.href : null;
  } catch {
    return null;
  }
}

// ---- The target

const total = (pb) => pb.invs.reduce((s, i) => s + (Number(i.gross_cents) || 0), 0);
const currency = (pb) => (pb.invs[0] && pb.invs[0].currency) || 'EUR';
const amount = (pb) => money(total(pb), currency(pb));
const many = (pb) => pb.invs.length > 1;

function status(pb) {
  const st = pb.invs.map((i) => i.status);
  if (st.length && st.every((s) => s === 'paid')) return 'paid';
  if (st.includes('processing')) return 'processing';
  if (st.includes('open')) return 'open';
  return st[0] || 'void';
}

const currentPayment = (pb) => (pb.invs.length ? latestPayment(pb.invs[0]) : null);

function startPayment(pb, body) {
  if (!many(pb)) return api('POST', `/invoices/${enc(pb.invs[0].id)}/payments`, body);
  return api('POST', '/payments', { ...body, invoice_ids: pb.invs.map((i) => i.id) });
}

// The same method again returns the same payment with a fresh client secret / approval link.
function resumePayment(payment) {
  const ids = idsOf(payment);
  if (ids.length > 1) return api('POST', '/payments', { method: payment.method, invoice_ids: ids });
  return api('POST', `/invoices/${enc(ids[0])}/payments`, { method: payment.method });
}

async function refresh(pb) {
  try {
    const invs = await Promise.all(pb.invs.map((i) => api('GET', `/invoices/${enc(i.id)}`)));
    if (!pb.alive()) return;
    pb.invs = invs;
    pb.onUpdate(invs);
  } catch { /* keep what we have */ }
}

// ---- Building blocks

function msgP(msg, kind = 'error') {
  if (!msg) return null;
  return kind === 'error'
    ? h('p', { class: 'form-error', role: 'alert', 'data-testid': 'pay-error' }, msg)
    : h('p', { class: 'pay-info', role: 'status', 'data-testid': 'pay-info' }, msg);
}

// Replaces the box content; every call starts a new "step", which ends older polls.
function setBox(pb, title, ...kids) {
  pb.step += 1;
  if (!title) pb.box.replaceChildren();
  else pb.box.replaceChildren(h('div', { class: 'card pay-card' }, h('h2', { id: 'pay-title', tabindex: '-1' }, title), ...kids));
  return pb.step;
}

// Move focus along when it was in the box (or lost with a removed button), not when the
// owner is elsewhere on the page.
const focusWasHere = (pb) => pb.box.contains(document.activeElement) || document.activeElement === document.body;

// ---- Entry

// box: an empty <section>; invs: the invoices paid together; onUpdate(invs): the page follows.
export function mountPayBox(box, invs, ctx, onUpdate = () => {}) {
  if (!box || !invs.length) return null;
  const pb = {
    box, invs, step: 0, attempt: 0, wasBlocked: null, saveCard: false, onUpdate,
    key: keyOf(invs.map((i) => i.id)),
    alive: () => box.isConnected && (!ctx || ctx.alive()),
  };
  const note = payNote && payNote.key === pb.key ? payNote : null;
  if (note) {
    payNote = null;
    pb.wasBlocked = note.wasBlocked;
  }
  if (payRunning.has(pb.key)) stepProcessing(pb);
  else if (note && status(pb) === 'paid' && note.payment.status !== 'succeeded') {
    // An older payment came back (e.g. a PayPal order approved late): it was not needed.
    stepPaid(pb, note.payment.status === 'refunded'
      ? 'Diese Zahlung war nicht mehr nötig, weil die Rechnung schon bezahlt ist. Das Geld dafür haben wir dir erstattet.'
      : 'Diese Zahlung war nicht mehr nötig, weil die Rechnung schon bezahlt ist. Dafür wurde nichts abgebucht.');
  } else if (note) outcome(pb, note.payment, true);
  else payState(pb);
  return pb;
}

// The view that fits the status; msg is the reason we are showing it again.
function payState(pb, msg) {
  const st = status(pb);
  if (st === 'open') stepStart(pb, msg);
  else if (st === 'processing') stepProcessing(pb, msg);
  else if (st === 'paid') stepPaid(pb, msg);
  else if (msg) setBox(pb, 'Zahlung', msgP(msg));
  else setBox(pb, null);
}

function stepStart(pb, msg, focus) {
  const btn = button('pay-now', many(pb) ? `${amount(pb)} bezahlen` : 'Jetzt bezahlen');
  btn.addEventListener('click', () => stepChoice(pb));
  const overdue = pb.invs.some((i) => i.overdue);
  setBox(pb, many(pb) ? `${plural(pb.invs.length, 'Rechnung', 'Rechnungen')} bezahlen` : 'Rechnung bezahlen',
    msgP(msg),
    h('p', null, overdue && !many(pb) ? 'Diese Rechnung ist überfällig. ' : '', 'Zu zahlen: ',
      h('strong', { class: 'num', 'data-testid': 'pay-amount' }, amount(pb))),
    h('div', { class: 'actions' }, btn));
  if (focus) btn.focus();
  getConfig().catch(() => {}); // warm up for the choice
}

async function stepChoice(pb) {
  const step = setBox(pb, 'Wie möchtest du bezahlen?', h('p', { class: 'loading' }, spinner(), 'Wird geladen …'));
  let cfg;
  try {
    cfg = await getConfig();
  } catch (e) {
    if (pb.step === step && pb.alive()) stepFailed(pb, e.message, true);
    return;
  }
  if (pb.step !== step || !pb.alive()) return;
  const card = h('button', { type: 'button', class: 'btn pay-opt', 'data-testid': 'pay-method-card' }, 'Kreditkarte');
  const paypal = cfg.paypal_enabled
    ? h('button', { type: 'button', class: 'btn pay-opt', 'data-testid': 'pay-method-paypal' }, 'PayPal') : null;
  const back = button('pay-abort', 'Abbrechen', 'secondary');
  const progress = h('p', { class: 'pay-progress', 'data-testid': 'pay-progress', role: 'status', hidden: true });
  const error = h('p', { class: 'form-error', role: 'alert', 'data-testid': 'pay-error', hidden: true });
  const ui = flowUi([card, paypal, back].filter(Boolean), progress, error, paypal || card);
  card.addEventListener('click', () => { if (!payRunning.has(pb.key)) stepCard(pb, cfg); });
  paypal?.addEventListener('click', () => runPaypal(pb, ui));
  back.addEventListener('click', () => { if (!payRunning.has(pb.key)) stepStart(pb, null, true); });
  setBox(pb, 'Wie möchtest du bezahlen?',
    h('p', null, 'Zu zahlen: ', h('strong', { class: 'num' }, amount(pb))),
    h('div', { class: 'pay-opts', role: 'group', 'aria-labelledby': 'pay-title' }, card, paypal),
    error, progress,
    h('div', { class: 'actions' }, back));
  card.focus();
}

async function stepCard(pb, cfg) {
  const step = setBox(pb, 'Mit Kreditkarte bezahlen', h('p', { class: 'loading' }, spinner(), 'Kartenformular wird geladen …'));
  let stripe;
  try {
    stripe = await stripeFor(cfg);
  } catch {
    if (pb.step === step && pb.alive()) stepFailed(pb, 'Das Kartenformular konnte nicht geladen werden. Bitte versuche es erneut oder wähle PayPal.', true);
    return;
  }
  if (pb.step !== step || !pb.alive()) return;

  const cf = cardField('card');
  const error = h('p', { class: 'form-error', role: 'alert', 'data-testid': 'pay-error', hidden: true });
  const progress = h('p', { class: 'pay-progress', 'data-testid': 'pay-progress', role: 'status', hidden: true });
  const waiting = h('div', { class: 'pay-wait', 'data-testid': 'pay-waiting', hidden: true });
  const submit = button('pay-submit', `${amount(pb)} bezahlen`, 'primary', 'submit');
  const back = button('pay-back', 'Andere Zahlungsart', 'secondary');
  const actions = h('div', { class: 'actions' }, submit, back);
  const save = h('input', { type: 'checkbox', id: 'pay-save', 'data-testid': 'pay-save-card', 'aria-describedby': 'pay-save-hint' });
  const form = h('form', { novalidate: true, class: 'pay-form' },
    cf.node,
    h('div', { class: 'check-row' }, save, h('label', { for: 'pay-save' }, 'Karte speichern und die monatliche Lizenz automatisch abbuchen')),
    h('p', { class: 'hint', id: 'pay-save-hint' }, 'Ausschalten kannst du das jederzeit in deinem Profil. ', STRIPE_HINT),
    error, progress, waiting, actions);
  setBox(pb, 'Mit Kreditkarte bezahlen', form);

  const card = cardElement(stripe);
  card.mount(cf.mount);
  const ui = flowUi([submit, back, save], progress, error, submit);
  ui.save = save;
  ui.waiting = waiting;
  ui.actions = actions;
  ui.cardError = (text) => formError(cf.error, text);
  // The stand-in calls the handler without an event; real Stripe.js passes {error, complete, …}.
  card.on('change', (ev) => { if (!payRunning.has(pb.key)) ui.cardError(ev && ev.error ? cardErrText(ev.error) : ''); });
  back.addEventListener('click', () => { if (!payRunning.has(pb.key)) stepChoice(pb); });
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    runCard(pb, stripe, card, ui);
  });
  pb.box.querySelector('#pay-title').focus();
}

// While the bank asks for 3-D Secure: say so, and offer at once to continue or to cancel.
function waitChoices(pb, payment, slot) {
  const resume = button('pay-resume', payment.method === 'paypal' ? 'Weiter zu PayPal' : 'Bestätigung fortsetzen');
  resume.addEventListener('click', () => {
    if (resume.disabled) return;
    busy(resume, payment.method === 'paypal' ? 'Weiter zu PayPal …' : 'Wird fortgesetzt …');
    resumeFlow(pb, payment);
  });
  const kids = [
    h('p', { class: 'pay-waiting-text', 'data-testid': 'pay-waiting-text' }, payment.method === 'paypal' ? WAIT_PAYPAL : WAIT_BANK),
    h('p', { class: 'hint' }, 'Hat sich kein Fenster deiner Bank geöffnet oder hast du es geschlossen? Setze die Bestätigung fort – oder brich die Zahlung ab, dann ',
      many(pb) ? 'sind die Rechnungen' : 'ist die Rechnung', ' wieder offen.'),
    h('div', { class: 'actions' }, resume, cancelButton(pb, payment))];
  if (slot) {
    slot.replaceChildren(...kids);
    slot.hidden = false;
  }
  return kids;
}

async function runCard(pb, stripe, card, ui) {
  if (payRunning.has(pb.key)) return; // a second click never starts a second payment
  payRunning.add(pb.key);
  const attempt = ++pb.attempt;
  ui.lock(true);
  ui.cardError('');
  ui.error('');
  ui.progress('Zahlung wird ausgeführt …');
  await watchAccount(pb);
  let paymentId = null;
  try {
    // Token first: a typo in the card number never opens a payment or touches the invoice.
    const tok = await Promise.resolve().then(() => stripe.createToken(card)).catch((e) => ({ error: e }));
    if (!tok || tok.error || !tok.token) {
      ui.progress('');
      ui.lock(false);
      ui.cardError(cardErrText(tok && tok.error));
      return;
    }
    let start;
    try {
      pb.saveCard = ui.save.checked;
      start = await startPayment(pb, { method: 'card', save_card: pb.saveCard });
    } catch (e) {
      if (!e.silent) await startFailed(pb, e, ui);
      return;
    }
    paymentId = start.payment_id;
    const res = await api('POST', `/payments/${enc(paymentId)}/card`, { token: tok.token.id });
    let payment = res.payment;
    if (res.requires_authentication) {
      ui.progress('');
      ui.actions.hidden = true; // while waiting, the two choices are the only actions
      waitChoices(pb, payment || { id: paymentId, method: 'card', invoice_id: pb.invs[0].id, invoice_ids: pb.invs.map((i) => i.id) }, ui.waiting);
      payRunning.delete(pb.key); // the owner may now continue or cancel
      try {
        await stripe.confirmCardPayment(res.client_secret);
      } catch { /* whatever happened, the backend asks Stripe next */ }
      if (attempt !== pb.attempt || !pb.alive()) return; // continued or cancelled meanwhile
      ui.waiting.hidden = true;
      ui.actions.hidden = false;
      ui.progress('Zahlung wird ausgeführt …');
      payment = await api('POST', `/payments/${enc(paymentId)}/complete`);
    }
    if (attempt === pb.attempt && pb.alive()) outcome(pb, payment, focusWasHere(pb));
  } catch (e) {
    if (!e.silent && attempt === pb.attempt) await cardTrouble(pb, paymentId, e, ui);
  } finally {
    if (attempt === pb.attempt) payRunning.delete(pb.key);
  }
}

// Continue an unfinished payment: card → 3-D Secure again, PayPal → its approval page.
async function resumeFlow(pb, payment) {
  const attempt = ++pb.attempt;
  payRunning.add(pb.key);
  try {
    if (payment.method === 'paypal') {
      const start = await resumePayment(payment);
      const url = safeUrl(start.approve_url);
      if (url) {
        location.assign(url);
        return;
      }
      throw Object.assign(new Error(FALLBACK_MSG), { status: 500 });
    }
    const step = setBox(pb, 'Zahlung läuft',
      h('p', { class: 'pay-progress', role: 'status', 'data-testid': 'pay-progress' }, spinner(), WAIT_BANK));
    const stripe = await stripeFor(await getConfig());
    const start = await resumePayment(payment);
    if (start.client_secret) {
      try {
        await stripe.confirmCardPayment(start.client_secret);
      } catch { /* the backend asks Stripe next */ }
    }
    if (attempt !== pb.attempt || pb.step !== step || !pb.alive()) return;
    const done = await api('POST', `/payments/${enc(start.payment_id || payment.id)}/complete`);
    if (attempt === pb.attempt && pb.alive()) outcome(pb, done, true);
  } catch (e) {
    if (e.silent || attempt !== pb.attempt || !pb.alive()) return;
    await refresh(pb);
    if (pb.alive()) payState(pb, e.message || FALLBACK_MSG);
  } finally {
    if (attempt === pb.attempt) payRunning.delete(pb.key);
  }
}

// A call after the payment was opened failed.
async function cardTrouble(pb, paymentId, e, ui) {
  if (!paymentId) {
    ui.progress('');
    ui.lock(false);
    ui.error(e.message);
    return;
  }
  if (e.status === 0 || e.status >= 500) {
    // Unknown whether the card was charged: the backend asks Stripe.
    try {
      const p = await api('POST', `/payments/${enc(paymentId)}/complete`);
      if (pb.alive()) outcome(pb, p, focusWasHere(pb));
    } catch (e2) {
      if (!e2.silent && pb.alive()) stepProcessing(pb, null, focusWasHere(pb));
    }
    return;
  }
  // Refused (e.g. the card was declined): give the invoice back and say why.
  try {
    await api('POST', `/payments/${enc(paymentId)}/cancel`);
  } catch (e2) {
    if (e2.silent) return;
  }
  await refresh(pb);
  if (pb.alive()) stepFailed(pb, e.message, focusWasHere(pb));
}

async function runPaypal(pb, ui) {
  if (payRunning.has(pb.key)) return;
  payRunning.add(pb.key);
  ui.lock(true);
  ui.error('');
  ui.progress('Weiter zu PayPal …');
  try {
    const start = await startPayment(pb, { method: 'paypal' });
    const url = safeUrl(start.approve_url);
    if (url) {
      location.assign(url); // the payment id comes back in the return address
      return;
    }
    await api('POST', `/payments/${enc(start.payment_id)}/cancel`).catch(() => {});
    await refresh(pb);
    if (pb.alive()) stepFailed(pb, FALLBACK_MSG, true);
  } catch (e) {
    if (!e.silent) await startFailed(pb, e, ui);
  } finally {
    payRunning.delete(pb.key);
  }
}

// Opening the payment failed: 409/404 mean an invoice changed under us, so show it as it is now.
async function startFailed(pb, e, ui) {
  if (e.status === 409 || e.status === 404) {
    await refresh(pb);
    if (pb.alive()) {
      payState(pb, e.message);
      pb.box.querySelector('[data-testid="pay-error"], button')?.focus();
    }
    return;
  }
  ui.progress('');
  ui.lock(false);
  ui.error(e.message);
}

function outcome(pb, payment, focus) {
  if (payment && (payment.status === 'failed' || payment.status === 'canceled')) {
    refresh(pb); // badge and payments table follow; the box shows the reason now
    stepFailed(pb, payFailText(payment), focus);
  } else {
    stepProcessing(pb, null, focus);
  }
}

function stepFailed(pb, msg, focus) {
  const retry = button('pay-retry', 'Erneut versuchen');
  retry.addEventListener('click', () => stepChoice(pb));
  setBox(pb, 'Zahlung nicht abgeschlossen', msgP(msg), h('div', { class: 'actions' }, retry));
  if (focus) retry.focus();
}

function stepProcessing(pb, msg, focus) {
  const last = currentPayment(pb);
  // Waiting for the bank (3-D Secure) or for PayPal, e.g. after the tab was closed on the way:
  // continue or cancel, at once.
  const unfinished = last && last.kind !== 'autopay' && isOpenPayment(last) && !payRunning.has(pb.key);
  let step;
  let shown;
  if (unfinished) {
    shown = h('div', { class: 'pay-wait', 'data-testid': 'pay-waiting', role: 'status', tabindex: '-1' }, waitChoices(pb, last));
    step = setBox(pb, 'Zahlung läuft', msgP(msg), shown);
  } else {
    shown = h('p', { class: 'pay-processing', 'data-testid': 'pay-processing', role: 'status', tabindex: '-1' },
      spinner(), 'Zahlung wird verarbeitet …');
    step = setBox(pb, 'Zahlung läuft', msgP(msg), shown,
      h('p', { class: 'hint' }, 'Das dauert meist nur wenige Sekunden. Die Seite aktualisiert sich von selbst.'));
  }
  if (focus) shown.focus();
  poll(pb, step);
}

async function poll(pb, step) {
  const until = Date.now() + 60000;
  for (let i = 0; ; i += 1) {
    await sleep(i ? 1000 : 300);
    if (pb.step !== step || !pb.alive()) return;
    let invs = null;
    try {
      invs = await Promise.all(pb.invs.map((inv) => api('GET', `/invoices/${enc(inv.id)}`)));
    } catch (e) {
      if (e.silent) return;
    }
    if (pb.step !== step || !pb.alive()) return;
    if (invs) {
      pb.invs = invs;
      pb.onUpdate(invs);
      const st = status(pb);
      if (st === 'paid') {
        stepSuccess(pb, focusWasHere(pb));
        return;
      }
      if (st !== 'processing' && !payRunning.has(pb.key)) {
        const last = currentPayment(pb);
        if (st === 'open' && last && (last.status === 'failed' || last.status === 'canceled')) stepFailed(pb, payFailText(last), focusWasHere(pb));
        else payState(pb);
        return;
      }
    }
    if (Date.now() > until) {
      // Waiting for the owner's bank or PayPal: the choices stay; otherwise say it takes long.
      if (!pb.box.querySelector('[data-testid="pay-resume"]')) stepSlow(pb);
      return;
    }
  }
}

function stepSlow(pb) {
  const check = button('pay-check', 'Status prüfen', 'secondary');
  check.addEventListener('click', () => stepProcessing(pb, null, true));
  const last = currentPayment(pb);
  setBox(pb, 'Zahlung läuft',
    h('p', { class: 'pay-info', role: 'status', 'data-testid': 'pay-slow' },
      'Die Zahlung ist noch nicht bestätigt. Das kann ein paar Minuten dauern – schau später noch einmal vorbei.'),
    h('div', { class: 'actions' }, check,
      last && last.kind !== 'autopay' && isOpenPayment(last) ? cancelButton(pb, last) : null));
}

function cancelButton(pb, payment) {
  const btn = button('pay-cancel', 'Zahlung abbrechen', 'warning');
  btn.addEventListener('click', async () => {
    if (btn.disabled) return;
    pb.attempt += 1; // a confirmation still running for this payment no longer counts
    busy(btn, 'Wird abgebrochen …');
    let msg = null;
    try {
      msg = payFailText(await api('POST', `/payments/${enc(payment.id)}/cancel`));
    } catch (e) {
      if (e.silent) return;
      msg = e.message;
    }
    payRunning.delete(pb.key);
    await refresh(pb);
    if (!pb.alive()) return;
    if (status(pb) === 'open') stepFailed(pb, msg, true);
    else payState(pb, msg);
  });
  return btn;
}

function stepSuccess(pb, focus) {
  const extra = h('div');
  const done = h('div', { class: 'pay-done', 'data-testid': 'pay-success', role: 'status', tabindex: '-1' },
    h('p', { class: 'pay-done-title' }, 'Bezahlt – danke!'),
    h('p', null, `Deine Zahlung über ${amount(pb)}`, many(pb) ? ` für ${plural(pb.invs.length, 'Rechnung', 'Rechnungen')}` : '', ' ist eingegangen.'),
    extra);
  setBox(pb, 'Zahlung', done);
  if (focus) done.focus();
  refreshAccount(pb, extra);
}

// When and how the invoice was paid, and what was given back.
function stepPaid(pb, msg) {
  const inv = pb.invs[0];
  const paidBy = (inv.payments || []).find((p) => p.status === 'succeeded' || p.status === 'refunded');
  const how = paidBy ? ` per ${PAY_METHOD[paidBy.method] || paidBy.method}${paidBy.kind === 'autopay' ? ' (automatische Abbuchung)' : ''}` : '';
  const cur = inv.currency || 'EUR';
  setBox(pb, 'Zahlung',
    msgP(msg, 'info'),
    h('p', { class: 'pay-paid', 'data-testid': 'pay-paid' }, inv.paid_at ? `Bezahlt am ${fmtDate(inv.paid_at)}${how}` : `Bezahlt${how}`),
    Number(inv.refunded_cents) > 0 ? h('p', { 'data-testid': 'pay-refunded' }, `Erstattet: ${money(inv.refunded_cents, cur)}`) : null,
    Number(inv.credited_cents) > 0 ? h('p', { 'data-testid': 'pay-credited' }, `Gutgeschrieben: ${money(inv.credited_cents, cur)}`) : null);
}

// Remember whether the till was blocked before paying, to say so when it is free again.
// Awaited before paying: read after the payment it could already say "active".
function watchAccount(pb) {
  if (pb.wasBlocked != null) return Promise.resolve();
  return api('GET', '/profile').then((p) => { pb.wasBlocked = p.account_status === 'blocked'; }, () => {});
}

// After a payment the account may be unblocked (the backend does that at once or within
// seconds): refresh any account banner on screen and tell the owner.
async function refreshAccount(pb, slot) {
  let p = null;
  for (let i = 0; i < 6; i += 1) {
    try {
      p = await api('GET', '/profile');
    } catch {
      return;
    }
    document.querySelector('[data-testid="account-banner"]')?.replaceWith(accountBanner(p));
    if (p.account_status !== 'blocked' || !pb.wasBlocked || !pb.alive()) break;
    await sleep(1000);
  }
  if (pb.saveCard && p.payment_method && !p.autopay && pb.alive()) {
    slot.append(h('p', { 'data-testid': 'pay-card-saved' }, 'Deine Karte ist gespeichert. ', h('a', { href: '#/profil' }, 'Automatische Abbuchung einschalten')));
  }
  if (!pb.alive() || !pb.wasBlocked) return;
  if (p.account_status !== 'blocked') {
    slot.append(h('p', { class: 'pay-unblocked', 'data-testid': 'pay-unblocked' }, 'Deine Kasse ist wieder freigeschaltet.'));
  } else if (Number(p.overdue_balance_cents) > 0) {
    slot.append(h('p', { 'data-testid': 'pay-still-blocked' }, 'Deine Kasse bleibt gesperrt, bis alle überfälligen Rechnungen bezahlt sind. ',
      h('a', { href: '#/rechnungen?status=open' }, 'Offene Rechnungen ansehen')));
  }
}

// Back from PayPal (/?paypal=return|cancel&payment=…): finish or cancel, then show the invoice
// (or, for several invoices paid at once, the pay-all page with that payment).
export async function finishPaypal(pp) {
  const alive = claimScreen();
  updateNav('');
  notify('');
  showLoading(pp.action === 'return' ? 'Deine PayPal-Zahlung wird abgeschlossen …' : 'Einen Moment bitte …');
  const path = `/payments/${enc(pp.paymentId)}`;
  let wasBlocked = null;
  let payment = null;
  try {
    if (pp.action === 'return') {
      wasBlocked = await api('GET', '/profile').then((p) => p.account_status === 'blocked', (e) => { if (e.silent) throw e; return null; });
    }
    payment = await api('POST', `${path}/${pp.action === 'return' ? 'complete' : 'cancel'}`);
  } catch (e) {
    if (e.silent) {
      setPendingPaypal(pp); // after signing in again
      return;
    }
    try {
      payment = await api('GET', path);
    } catch (e2) {
      if (e2.silent) {
        setPendingPaypal(pp);
        return;
      }
      if (!alive()) return;
      flash(e.message, 'error');
      navigate('#/rechnungen', true);
      return;
    }
  }
  if (!alive()) return; // the owner went elsewhere meanwhile
  const ids = idsOf(payment);
  payNote = { key: keyOf(ids), payment, wasBlocked };
  navigate(ids.length > 1 ? `#/bezahlen?zahlung=${enc(payment.id)}` : `#/rechnungen/${enc(ids[0])}`, true);
}
