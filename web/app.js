// SIDES Kundenportal: single-page app with hash routing. Talks only to /api/... on the same
// origin. Native ES modules, no framework, no build step:
//   lib/      api client and session, router, formatting, DOM and shared components
//   screens/  one module per screen, loaded when first visited
//   pay/      paying invoices (card, PayPal) and the saved card

import { $main } from './lib/dom.js';
import { getRT, refreshTokens, signOut } from './lib/api.js';
import { flash, navigate, render, setPendingPaypal } from './lib/router.js';
import { busy } from './lib/ui.js';

async function logout(ev) {
  const btn = ev.currentTarget;
  if (btn.disabled) return;
  const restore = busy(btn, 'Abmelden …');
  await signOut();
  restore();
  flash('Du bist abgemeldet.', 'ok');
  navigate('#/anmelden', true);
}

function boot() {
  document.getElementById('logout').addEventListener('click', logout);
  document.getElementById('skip').addEventListener('click', (ev) => {
    ev.preventDefault();
    $main().focus();
  });
  window.addEventListener('hashchange', render);
  // Back from a payment page via the browser's back button: show the current state, not the
  // "Weiter zu PayPal …" the page was frozen with.
  window.addEventListener('pageshow', (ev) => {
    if (!ev.persisted) return;
    import('./pay/box.js').then((m) => {
      m.payRunning.clear();
      render();
    });
  });
  const q = new URLSearchParams(location.search);
  if (q.has('paypal')) {
    const action = q.get('paypal');
    const paymentId = q.get('payment');
    if ((action === 'return' || action === 'cancel') && paymentId) setPendingPaypal({ action, paymentId });
    // PayPal's token and PayerID do not stay in the address bar or the history.
    history.replaceState(null, '', `${location.pathname}${location.hash}`);
  }
  if (getRT()) refreshTokens().catch(() => {}); // refresh first; signed-in calls await it
  render();
}

boot();
