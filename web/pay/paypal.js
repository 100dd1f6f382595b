// Paying with PayPal: off to its approval page, and back (/?paypal=return|cancel&payment=…).

import { enc } from '../lib/dom.js';
import { FALLBACK_MSG, api } from '../lib/api.js';
import { claimScreen, flash, navigate, notify, setPendingPaypal, showLoading, updateNav } from '../lib/router.js';
import { idsOf, keyOf, notes, payRunning, refresh, safeUrl, startPayment } from './box.js';
import { startFailed, stepFailed } from './flow.js';

export async function runPaypal(pb, ui) {
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
  notes.pending = { key: keyOf(ids), payment, wasBlocked };
  navigate(ids.length > 1 ? `#/bezahlen?zahlung=${enc(payment.id)}` : `#/rechnungen/${enc(ids[0])}`, true);
}
