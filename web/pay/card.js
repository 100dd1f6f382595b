// Paying by card: the card form (Stripe.js), the payment with its 3-D Secure step, and
// continuing a payment that waits for the bank.

import { enc, h, spinner } from '../lib/dom.js';
import { FALLBACK_MSG, api, getConfig } from '../lib/api.js';
import { button, flowUi, formError } from '../lib/ui.js';
import { STRIPE_HINT, cardElement, cardErrText, cardField, stripeFor } from './stripe.js';
import {
  WAIT_BANK, amount, focusWasHere, payRunning, refresh, resumePayment, safeUrl, setBox, startPayment,
} from './box.js';
import {
  outcome, payState, startFailed, stepChoice, stepFailed, stepProcessing, waitChoices, watchAccount,
} from './flow.js';

export async function stepCard(pb, cfg) {
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
export async function resumeFlow(pb, payment) {
  const attempt = ++pb.attempt;
  pb.step += 1; // a poll running meanwhile draws nothing
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
