// Stripe.js, loaded only when the owner chooses card (one <script>, added once; the CSP
// allows its origin), and the German texts for what Stripe and the providers answer.

import { h } from '../lib/dom.js';

const THREE_DS_MSG = 'Die Bestätigung (3-D Secure) wurde abgebrochen oder ist fehlgeschlagen. Die Rechnung ist weiter offen – du kannst es erneut versuchen.';
export const PAY_FAIL = {
  card_declined: 'Deine Karte wurde abgelehnt. Bitte nutze eine andere Karte oder PayPal.',
  insufficient_funds: 'Deine Karte ist nicht ausreichend gedeckt. Bitte nutze eine andere Karte oder PayPal.',
  expired_card: 'Deine Karte ist abgelaufen. Bitte nutze eine andere Karte.',
  incorrect_cvc: 'Die Prüfnummer (CVC) stimmt nicht.',
  payment_intent_authentication_failure: THREE_DS_MSG,
  authentication_failed: THREE_DS_MSG,
  paypal_canceled: 'Du hast die Zahlung bei PayPal abgebrochen. Die Rechnung ist weiter offen.',
  instrument_declined: 'PayPal hat die Zahlung abgelehnt. Bitte wähle bei PayPal eine andere Zahlungsquelle oder bezahle per Kreditkarte.',
  canceled: 'Die Zahlung wurde abgebrochen. Die Rechnung ist weiter offen.',
};
const PAY_FAIL_ANY = 'Die Zahlung ist fehlgeschlagen. Bitte versuche es erneut oder wähle PayPal.';

// Stripe.js error codes of the card field, in German whatever the browser language is.
export const CARD_ERR = {
  incomplete_number: 'Die Kartennummer ist unvollständig.',
  invalid_number: 'Die Kartennummer ist ungültig.',
  incorrect_number: 'Die Kartennummer ist ungültig.',
  incomplete_expiry: 'Das Ablaufdatum ist unvollständig.',
  invalid_expiry_month: 'Das Ablaufdatum ist ungültig.',
  invalid_expiry_year: 'Das Ablaufdatum ist ungültig.',
  invalid_expiry_month_past: 'Das Ablaufdatum liegt in der Vergangenheit.',
  invalid_expiry_year_past: 'Das Ablaufdatum liegt in der Vergangenheit.',
  incomplete_cvc: 'Die Prüfnummer (CVC) ist unvollständig.',
  invalid_cvc: 'Die Prüfnummer (CVC) ist ungültig.',
  incomplete_zip: 'Die Postleitzahl ist unvollständig.',
};

export const STRIPE_HINT = 'Deine Kartendaten gehen direkt an unseren Zahlungsdienstleister Stripe, nicht an SIDES.';

export function payFailText(p) {
  if (p && p.failure_message) return p.failure_message;
  const code = p && (p.failure_code || (p.status === 'canceled' ? (p.method === 'paypal' ? 'paypal_canceled' : 'canceled') : ''));
  return PAY_FAIL[code] || PAY_FAIL_ANY;
}

// Stripe's own validation and card messages follow the browser language; anything else
// (a failed request, a script error) is not for the owner's eyes.
export const cardErrText = (e) => (e && (CARD_ERR[e.code] || (/^(validation|card)_error$/.test(e.type) && e.message)))
  || 'Bitte prüfe deine Kartendaten.';

let stripeJsP = null;
let stripeApi = null; // [publishable key, Stripe instance]

function loadStripeJs(url) {
  if (!stripeJsP) {
    stripeJsP = new Promise((resolve, reject) => {
      if (typeof window.Stripe === 'function') {
        resolve(window.Stripe);
        return;
      }
      const s = document.createElement('script');
      s.src = url;
      s.async = true;
      s.addEventListener('load', () => (typeof window.Stripe === 'function' ? resolve(window.Stripe) : reject(new Error('Stripe.js'))));
      s.addEventListener('error', () => { s.remove(); reject(new Error('Stripe.js')); });
      document.head.append(s);
    }).catch((e) => { stripeJsP = null; throw e; });
  }
  return stripeJsP;
}

export async function stripeFor(cfg) {
  const StripeJs = await loadStripeJs(cfg.stripe_js_url);
  if (!stripeApi || stripeApi[0] !== cfg.stripe_publishable_key) {
    stripeApi = [cfg.stripe_publishable_key, StripeJs(cfg.stripe_publishable_key)];
  }
  return stripeApi[1];
}

export const cardElement = (stripe) => stripe.elements().create('card', { hidePostalCode: true, style: { base: { fontSize: '16px', color: '#1c2233' } } });

// The card field: a labelled group Stripe mounts its element into, and its error line.
export function cardField(prefix) {
  const mount = h('div', { id: `${prefix}-element`, class: 'card-input', 'data-testid': `${prefix}-element`, role: 'group', 'aria-labelledby': `${prefix}-label` });
  const error = h('p', { id: `${prefix}-error`, class: 'card-error', 'data-testid': `${prefix}-error`, role: 'alert', hidden: true });
  const node = h('div', { class: 'field' }, h('span', { id: `${prefix}-label`, class: 'label' }, 'Kartendaten'), mount, error);
  return { node, mount, error };
}
