// What the pay flow shares: which payments run in this tab, the target (the invoices paid
// together: one on the invoice page, every overdue one on the pay-all page) and the box the
// steps are drawn in.

import { enc, h } from '../lib/dom.js';
import { money } from '../lib/format.js';
import { api } from '../lib/api.js';

export const payRunning = new Set(); // targets with a payment being started or confirmed in this tab
// pending: an outcome to show once on its target (after the PayPal round trip)
export const notes = { pending: null };

export const WAIT_BANK = 'Wir warten noch auf die Bestätigung deiner Bank …';
export const WAIT_PAYPAL = 'Wir warten noch auf deine Bestätigung bei PayPal …';
export const isOpenPayment = (p) => p.status === 'pending' || p.status === 'requires_action';
export const keyOf = (ids) => [...ids].sort().join(',');
export const idsOf = (payment) => (payment.invoice_ids && payment.invoice_ids.length ? payment.invoice_ids : [payment.invoice_id]);

export function latestPayment(inv) {
  return (inv.payments || []).reduce((a, p) => (!a || String(p.created_at) > String(a.created_at) ? p : a), null);
}

export function safeUrl(u) {
  try {
    const url = new URL(u, location.href);
    return /^https?:$/.test(url.protocol) ? url.href : null;
  } catch {
    return null;
  }
}

// What is still to pay: a credit note lowers it below the invoice's gross amount.
const due = (inv) => Number(inv.amount_due_cents ?? inv.gross_cents) || 0;

export const total = (pb) => pb.invs.reduce((s, i) => s + due(i), 0);

export const currency = (pb) => (pb.invs[0] && pb.invs[0].currency) || 'EUR';

export const amount = (pb) => money(total(pb), currency(pb));

export const many = (pb) => pb.invs.length > 1;

export function status(pb) {
  const st = pb.invs.map((i) => i.status);
  if (st.length && st.every((s) => s === 'paid')) return 'paid';
  if (st.includes('processing')) return 'processing';
  if (st.includes('open')) return 'open';
  return st[0] || 'void';
}

export const currentPayment = (pb) => (pb.invs.length ? latestPayment(pb.invs[0]) : null);

export function startPayment(pb, body) {
  if (!many(pb)) return api('POST', `/invoices/${enc(pb.invs[0].id)}/payments`, body);
  return api('POST', '/payments', { ...body, invoice_ids: pb.invs.map((i) => i.id) });
}

// The same method again returns the same payment with a fresh client secret / approval link.
export function resumePayment(payment) {
  const ids = idsOf(payment);
  if (ids.length > 1) return api('POST', '/payments', { method: payment.method, invoice_ids: ids });
  return api('POST', `/invoices/${enc(ids[0])}/payments`, { method: payment.method });
}

export async function refresh(pb) {
  try {
    const invs = await Promise.all(pb.invs.map((i) => api('GET', `/invoices/${enc(i.id)}`)));
    if (!pb.alive()) return;
    pb.invs = invs;
    pb.onUpdate(invs);
  } catch { /* keep what we have */ }
}

export function msgP(msg, kind = 'error') {
  if (!msg) return null;
  return kind === 'error'
    ? h('p', { class: 'form-error', role: 'alert', 'data-testid': 'pay-error' }, msg)
    : h('p', { class: 'pay-info', role: 'status', 'data-testid': 'pay-info' }, msg);
}

// Replaces the box content; every call starts a new "step", which ends older polls.
export function setBox(pb, title, ...kids) {
  pb.step += 1;
  if (!title) pb.box.replaceChildren();
  else pb.box.replaceChildren(h('div', { class: 'card pay-card' }, h('h2', { id: 'pay-title', tabindex: '-1' }, title), ...kids));
  return pb.step;
}

// Move focus along when it was in the box (or lost with a removed button), not when the
// owner is elsewhere on the page.
export const focusWasHere = (pb) => pb.box.contains(document.activeElement) || document.activeElement === document.body;
