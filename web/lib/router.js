// Hash routing (tokens in the fragment never reach a server log). Screens are modules loaded
// when first visited; each exports `view(ctx, ...params)`.

import { h, $main } from './dom.js';
import { FALLBACK_MSG, session, setOnExpired, signedIn } from './api.js';

const ROUTES = [
  [/^\/einladung\/([^/?]+)$/, () => import('../screens/invite.js'), false],
  [/^\/anmelden$/, () => import('../screens/login.js'), false],
  [/^\/passwort-vergessen$/, () => import('../screens/password.js').then((m) => ({ view: m.viewForgot })), false],
  [/^\/passwort-zuruecksetzen$/, () => import('../screens/password.js').then((m) => ({ view: m.viewReset })), false],
  [/^\/profil$/, () => import('../screens/profile.js'), true],
  [/^\/rechnungen$/, () => import('../screens/invoices.js'), true],
  [/^\/rechnungen\/([^/?]+)$/, () => import('../screens/invoice.js'), true],
  [/^\/bezahlen$/, () => import('../screens/pay-overdue.js'), true],
  [/^\/support$/, () => import('../screens/support.js'), true],
  [/^\/konto$/, () => import('../screens/account.js'), true],
];

let renderSeq = 0;
let firstRender = true;
let flashed = null;
let pendingPaypal = null; // {action, paymentId} taken from the PayPal return address

// ---- Messages: one aria-live notice region; a new message replaces the one before.

export function notify(msg, kind = 'info') {
  const n = document.getElementById('notice');
  n.replaceChildren();
  n.className = 'notice';
  if (!msg) return;
  n.classList.add('show', `notice-${kind}`);
  n.append(h('p', null, msg));
}

// Shown after the next navigation.
export function flash(msg, kind = 'ok') {
  flashed = [msg, kind];
}

// ---- Navigation

export function navigate(hash, replace = false) {
  if (location.hash === hash) {
    render();
  } else if (replace) {
    history.replaceState(null, '', hash);
    render();
  } else {
    location.hash = hash;
  }
}

setOnExpired(() => {
  session.returnTo = location.hash;
  flash('Bitte melde dich (erneut) an.', 'info');
  navigate('#/anmelden', true);
});

export function setPendingPaypal(pp) {
  pendingPaypal = pp;
}

// A view that is not a route (the PayPal return) takes the screen; alive() says whether it
// still has it.
export function claimScreen() {
  const seq = ++renderSeq;
  return () => seq === renderSeq;
}

function notFound(ctx) {
  show(ctx, 'Seite nicht gefunden',
    h('section', { class: 'card narrow' },
      h('h1', { tabindex: '-1' }, 'Seite nicht gefunden'),
      h('p', { class: 'lead' }, 'Diese Adresse gibt es im Kundenportal nicht.'),
      h('p', null, h('a', { class: 'btn', href: '#/' }, 'Zur Startseite'))));
}

export function render() {
  const raw = location.hash.replace(/^#/, '');
  const [path, query = ''] = raw.split('?');
  const params = new URLSearchParams(query);

  if (pendingPaypal && signedIn()) {
    const pp = pendingPaypal;
    pendingPaypal = null;
    firstRender = false;
    import('../pay/paypal.js').then((m) => m.finishPaypal(pp), (e) => showLoadError(e));
    return;
  }
  if (path === '' || path === '/') {
    navigate(signedIn() ? '#/profil' : '#/anmelden', true);
    return;
  }
  if (!path.startsWith('/')) return; // in-page anchors such as #main

  const alive = claimScreen();
  let load = null;
  let args = [];
  let needsAuth = false;
  for (const [re, fn, auth] of ROUTES) {
    const m = re.exec(path);
    if (m) {
      load = fn;
      args = m.slice(1).map((x) => decodeURIComponent(x));
      needsAuth = auth;
      break;
    }
  }
  if (needsAuth && !signedIn()) {
    session.returnTo = location.hash;
    flash('Bitte melde dich an.', 'info');
    navigate('#/anmelden', true);
    return;
  }
  if (path === '/anmelden' && signedIn()) {
    navigate('#/profil', true);
    return;
  }

  updateNav(path);
  if (flashed) {
    notify(...flashed);
    flashed = null;
  } else {
    notify('');
  }
  if (!firstRender) window.scrollTo(0, 0);
  const ctx = { alive, params, first: firstRender };
  firstRender = false;
  showLoading(); // the old screen goes at once, not after the new one's module has arrived
  Promise.resolve(load ? load() : { view: notFound })
    .then((mod) => (alive() ? mod.view(ctx, ...args) : null))
    .catch((e) => {
      if (!e || e.silent || !alive()) return;
      showLoadError(e);
    });
}

export function updateNav(path) {
  const nav = document.getElementById('nav');
  nav.hidden = !signedIn();
  for (const a of nav.querySelectorAll('a[data-nav]')) {
    if (path.startsWith(`/${a.dataset.nav}`)) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

// Replace the page content; focus the heading after in-app navigation (screen readers then
// announce the new page).
export function show(ctx, title, ...content) {
  if (!ctx.alive()) return false;
  document.title = `${title} · SIDES Kundenportal`;
  $main().replaceChildren(...content.flat().filter((c) => c != null && c !== false));
  if (!ctx.first) $main().querySelector('h1')?.focus();
  return true;
}

export function showLoading(text = 'Wird geladen …') {
  $main().replaceChildren(h('p', { class: 'loading', role: 'status' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), text));
}

export function showLoadError(e) {
  const retry = h('button', { type: 'button', class: 'btn btn-secondary', onclick: () => render() }, 'Erneut versuchen');
  $main().replaceChildren(
    h('section', { class: 'card narrow' },
      h('h1', { tabindex: '-1' }, 'Das hat nicht geklappt'),
      h('p', { class: 'form-error', role: 'alert', 'data-testid': 'form-error' }, (e && e.status !== undefined && e.message) || FALLBACK_MSG),
      h('div', { class: 'actions' }, retry)),
  );
}

// Shows a spinner while fn runs; null when it failed (the error is shown) or the owner left.
export async function load(ctx, fn) {
  showLoading();
  try {
    const r = await fn();
    return ctx.alive() ? r : null;
  } catch (e) {
    if (!e.silent && ctx.alive()) showLoadError(e);
    return null;
  }
}
