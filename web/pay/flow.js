// Paying one invoice or several at once: the steps of the pay box, from "Jetzt bezahlen"
// to paid. Card through Stripe.js (card.js), PayPal by redirect (paypal.js). The backend is
// the truth: after every provider step we ask it (/complete, GET invoice) instead of trusting
// what the browser saw.

import { enc, h, sleep, spinner } from '../lib/dom.js';
import { fmtDate, money, plural } from '../lib/format.js';
import { api, getConfig } from '../lib/api.js';
import { PAY_METHOD, accountBanner, busy, button, flowUi } from '../lib/ui.js';
import { payFailText } from './stripe.js';
import {
  WAIT_BANK, WAIT_PAYPAL, amount, currency, currentPayment, focusWasHere, isOpenPayment, keyOf, many, msgP,
  notes, payRunning, refresh, setBox, status,
} from './box.js';
import { resumeFlow, stepCard } from './card.js';
import { runPaypal } from './paypal.js';

// ---- Entry

// box: an empty <section>; invs: the invoices paid together; onUpdate(invs): the page follows.
export function mountPayBox(box, invs, ctx, onUpdate = () => {}) {
  if (!box || !invs.length) return null;
  const pb = {
    box, invs, step: 0, attempt: 0, wasBlocked: null, saveCard: false, onUpdate,
    key: keyOf(invs.map((i) => i.id)),
    alive: () => box.isConnected && (!ctx || ctx.alive()),
  };
  const note = notes.pending && notes.pending.key === pb.key ? notes.pending : null;
  if (note) {
    notes.pending = null;
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
export function payState(pb, msg) {
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

export async function stepChoice(pb) {
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

// While the bank asks for 3-D Secure: say so, and offer at once to continue or to cancel.
export function waitChoices(pb, payment, slot) {
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

// Opening the payment failed: 409/404 mean an invoice changed under us, so show it as it is now.
export async function startFailed(pb, e, ui) {
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

export function outcome(pb, payment, focus) {
  if (payment && (payment.status === 'failed' || payment.status === 'canceled')) {
    refresh(pb); // badge and payments table follow; the box shows the reason now
    stepFailed(pb, payFailText(payment), focus);
  } else {
    stepProcessing(pb, null, focus);
  }
}

export function stepFailed(pb, msg, focus) {
  const retry = button('pay-retry', 'Erneut versuchen');
  retry.addEventListener('click', () => stepChoice(pb));
  setBox(pb, 'Zahlung nicht abgeschlossen', msgP(msg), h('div', { class: 'actions' }, retry));
  if (focus) retry.focus();
}

export function stepProcessing(pb, msg, focus) {
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
    const step = ++pb.step; // and a poll running meanwhile draws nothing: this answer does
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
    if (!pb.alive() || pb.step !== step) return;
    if (status(pb) === 'open') stepFailed(pb, msg, true);
    else payState(pb, msg);
  });
  return btn;
}

// Once paid, nothing is due any more: the amount is the payment's own.
function paidAmount(pb) {
  const paid = currentPayment(pb);
  return paid && paid.amount_cents ? money(paid.amount_cents, currency(pb)) : amount(pb);
}

function stepSuccess(pb, focus) {
  const extra = h('div');
  const done = h('div', { class: 'pay-done', 'data-testid': 'pay-success', role: 'status', tabindex: '-1' },
    h('p', { class: 'pay-done-title' }, 'Bezahlt – danke!'),
    h('p', null, `Deine Zahlung über ${paidAmount(pb)}`, many(pb) ? ` für ${plural(pb.invs.length, 'Rechnung', 'Rechnungen')}` : '', ' ist eingegangen.'),
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
export function watchAccount(pb) {
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

