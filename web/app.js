// SIDES Kundenportal: single-page app with hash routing (tokens in the fragment never reach
// a server log). Talks only to /api/... on the same origin. No framework, no build step.

const NET_MSG = 'Keine Verbindung. Bitte versuche es erneut.';
const FALLBACK_MSG = 'Etwas ist schiefgelaufen. Bitte versuche es später erneut.';
const RT_KEY = 'sides.portal.refresh';

// ---------------------------------------------------------------------------------------------
// Tiny DOM helper: builds elements without innerHTML, so server data is never parsed as HTML.

function h(tag, props, ...kids) {
  const el = document.createElement(tag);
  let value;
  for (const [k, v] of Object.entries(props || {})) {
    if (v == null || v === false) continue;
    if (k === 'class') el.className = v;
    else if (k === 'value') value = v;
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? '' : v);
  }
  for (const kid of kids.flat(Infinity)) {
    if (kid != null && kid !== false) el.append(kid instanceof Node ? kid : String(kid));
  }
  if (value !== undefined) el.value = value;
  return el;
}

const $main = () => document.getElementById('main');

// ---------------------------------------------------------------------------------------------
// Formatting (display only: amounts stay integer cents everywhere else).

const moneyFmt = new Map();
function money(cents, currency = 'EUR') {
  const cur = currency || 'EUR';
  if (!moneyFmt.has(cur)) {
    moneyFmt.set(cur, new Intl.NumberFormat('de-DE', { style: 'currency', currency: cur }));
  }
  return moneyFmt.get(cur).format((Number(cents) || 0) / 100);
}

const dtDate = new Intl.DateTimeFormat('de-DE', {
  day: '2-digit', month: '2-digit', year: 'numeric', timeZone: 'Europe/Berlin',
});
const dtDateTime = new Intl.DateTimeFormat('de-DE', {
  day: '2-digit', month: '2-digit', year: 'numeric', hour: '2-digit', minute: '2-digit',
  timeZone: 'Europe/Berlin',
});
const dtMonth = new Intl.DateTimeFormat('de-DE', { month: 'long', year: 'numeric', timeZone: 'UTC' });
const numFmt = new Intl.NumberFormat('de-DE', { maximumFractionDigits: 3 });

function fmtDate(s) {
  if (!s) return '—';
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  if (m) return `${m[3]}.${m[2]}.${m[1]}`;
  const d = new Date(s);
  return Number.isNaN(d.getTime()) ? String(s) : dtDate.format(d);
}
function fmtDateTime(s) {
  const d = new Date(s);
  return s && !Number.isNaN(d.getTime()) ? dtDateTime.format(d) : '—';
}
function fmtPeriod(p) {
  const m = /^(\d{4})-(\d{2})$/.exec(p || '');
  return m ? dtMonth.format(Date.UTC(+m[1], +m[2] - 1, 1)) : '—';
}
function fmtCountry(code) {
  try {
    return new Intl.DisplayNames(['de'], { type: 'region' }).of(code) || code;
  } catch {
    return code || '';
  }
}

const STATUS = {
  open: ['offen', 'open'],
  overdue: ['überfällig', 'overdue'],
  processing: ['in Bearbeitung', 'processing'],
  paid: ['bezahlt', 'paid'],
  void: ['storniert', 'void'],
};
function statusBadge(inv, id) {
  const key = inv.status === 'open' && inv.overdue ? 'overdue' : inv.status;
  const [label, cls] = STATUS[key] || [String(inv.status), 'open'];
  return h('span', { class: `badge badge-${cls}`, id, 'data-testid': 'invoice-status', 'data-status': inv.status }, label);
}

const PAY_STATUS = {
  pending: 'ausstehend', requires_action: 'Bestätigung nötig', succeeded: 'erfolgreich',
  failed: 'fehlgeschlagen', canceled: 'abgebrochen',
};
const PAY_METHOD = { card: 'Kreditkarte', paypal: 'PayPal' };

// ---------------------------------------------------------------------------------------------
// Session: access and id token only in memory; the refresh token in sessionStorage (tab-scoped,
// survives a reload and a round trip to a payment provider, gone with the tab). Never localStorage.

let accessToken = null;
let idToken = null; // kept for later use (e.g. display claims); never persisted
let accessExp = 0;
let refreshing = null;
let returnTo = null;
let lastEmail = '';

function getRT() {
  try { return sessionStorage.getItem(RT_KEY); } catch { return null; }
}
function setTokens(d) {
  accessToken = d.access_token || null;
  idToken = d.id_token || idToken;
  accessExp = Date.now() + (Number(d.expires_in) || 3600) * 1000;
  try {
    // Only to prefill the sign-in form later; the claim is never trusted for anything else.
    const claims = JSON.parse(atob(idToken.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')));
    if (typeof claims.email === 'string') lastEmail = claims.email;
  } catch { /* not a JWT (or no id token): nothing to prefill */ }
  if (d.refresh_token) {
    try { sessionStorage.setItem(RT_KEY, d.refresh_token); } catch { /* private mode */ }
  }
}
function clearTokens() {
  accessToken = null;
  idToken = null;
  accessExp = 0;
  try { sessionStorage.removeItem(RT_KEY); } catch { /* ignore */ }
}
const signedIn = () => Boolean(accessToken || getRT());

class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

async function request(method, path, body, token) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (token) headers.Authorization = `Bearer ${token}`;
  let res;
  try {
    res = await fetch(`/api${path}`, {
      method, headers, cache: 'no-store', credentials: 'same-origin',
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch {
    throw new ApiError(0, 'network', NET_MSG);
  }
  let data = null;
  if (res.status !== 204) {
    try { data = await res.json(); } catch { data = null; }
  }
  if (!res.ok) {
    const err = (data && data.error) || {};
    throw new ApiError(res.status, err.code || `http_${res.status}`, err.message || FALLBACK_MSG);
  }
  return data;
}

function refreshTokens() {
  if (!refreshing) {
    refreshing = (async () => {
      const rt = getRT();
      if (!rt) return false;
      try {
        setTokens(await request('POST', '/auth/refresh', { refresh_token: rt }));
        return true;
      } catch (e) {
        if (e.status === 400 || e.status === 401) {
          clearTokens();
          return false;
        }
        throw e; // network or server trouble: keep the refresh token for the next try
      } finally {
        refreshing = null;
      }
    })();
  }
  return refreshing;
}

function sessionExpired() {
  clearTokens();
  returnTo = location.hash;
  flash('Bitte melde dich (erneut) an.', 'info');
  navigate('#/anmelden', true);
  const e = new ApiError(401, 'session_expired', '');
  e.silent = true;
  throw e;
}

// Signed-in call: refresh first when the access token is missing or about to expire; on a 401
// refresh once and retry; when that fails, back to sign-in.
async function api(method, path, body) {
  if (!accessToken || Date.now() > accessExp - 30000) {
    if (!(await refreshTokens())) sessionExpired();
  }
  try {
    return await request(method, path, body, accessToken);
  } catch (e) {
    if (e.status !== 401) throw e;
  }
  if (!(await refreshTokens())) sessionExpired();
  try {
    return await request(method, path, body, accessToken);
  } catch (e) {
    if (e.status === 401) sessionExpired();
    throw e;
  }
}
const publicApi = (method, path, body) => request(method, path, body);

async function signIn(email, password) {
  const d = await publicApi('POST', '/auth/login', { email, password });
  setTokens(d);
  lastEmail = email;
}

// ---------------------------------------------------------------------------------------------
// Messages: one aria-live notice region; flash() shows a message after the next navigation.

let flashed = null;
function notify(msg, kind = 'info') {
  const n = document.getElementById('notice');
  n.replaceChildren();
  n.className = 'notice';
  if (!msg) return;
  n.classList.add('show', `notice-${kind}`);
  n.append(h('p', null, msg));
}
function flash(msg, kind = 'ok') {
  flashed = [msg, kind];
}

function formError(el, msg) {
  el.textContent = msg || '';
  el.hidden = !msg;
}

// Button busy state: disabled, label swapped, spinner shown; returns a restore function.
function busy(btn, label) {
  const old = btn.textContent;
  btn.disabled = true;
  btn.setAttribute('aria-busy', 'true');
  btn.textContent = label;
  return () => {
    btn.removeAttribute('aria-busy');
    btn.textContent = old;
    btn.disabled = false;
  };
}

// ---------------------------------------------------------------------------------------------
// Router

let renderSeq = 0;
let firstRender = true;

function navigate(hash, replace = false) {
  if (location.hash === hash) {
    render();
  } else if (replace) {
    history.replaceState(null, '', hash);
    render();
  } else {
    location.hash = hash;
  }
}

const ROUTES = [
  [/^\/einladung\/([^/?]+)$/, viewInvite, false],
  [/^\/anmelden$/, viewLogin, false],
  [/^\/passwort-vergessen$/, viewForgot, false],
  [/^\/passwort-zuruecksetzen$/, viewReset, false],
  [/^\/profil$/, viewProfile, true],
  [/^\/rechnungen$/, viewInvoices, true],
  [/^\/rechnungen\/([^/?]+)$/, viewInvoice, true],
  [/^\/support$/, viewSupport, true],
];

function render() {
  const raw = location.hash.replace(/^#/, '');
  const [path, query = ''] = raw.split('?');
  const params = new URLSearchParams(query);

  if (pendingPaypal && signedIn()) {
    const pp = pendingPaypal;
    pendingPaypal = null;
    firstRender = false;
    finishPaypal(pp);
    return;
  }
  if (path === '' || path === '/') {
    navigate(signedIn() ? '#/profil' : '#/anmelden', true);
    return;
  }
  if (!path.startsWith('/')) return; // in-page anchors such as #main

  const seq = ++renderSeq;
  const alive = () => seq === renderSeq;
  let view = viewNotFound;
  let args = [];
  let needsAuth = false;
  for (const [re, fn, auth] of ROUTES) {
    const m = re.exec(path);
    if (m) {
      view = fn;
      args = m.slice(1).map((x) => decodeURIComponent(x));
      needsAuth = auth;
      break;
    }
  }
  if (needsAuth && !signedIn()) {
    returnTo = location.hash;
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
  Promise.resolve(view(ctx, ...args)).catch((e) => {
    if (!e || e.silent || !alive()) return;
    showLoadError(e);
  });
}

function updateNav(path) {
  const nav = document.getElementById('nav');
  nav.hidden = !signedIn();
  for (const a of nav.querySelectorAll('a[data-nav]')) {
    if (path.startsWith(`/${a.dataset.nav}`)) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
}

// Replace the page content; focus the heading after in-app navigation (screen readers
// then announce the new page).
function show(ctx, title, ...content) {
  if (!ctx.alive()) return false;
  document.title = `${title} · SIDES Kundenportal`;
  $main().replaceChildren(...content.flat().filter((c) => c != null && c !== false));
  if (!ctx.first) $main().querySelector('h1')?.focus();
  return true;
}

function showLoading(text = 'Wird geladen …') {
  $main().replaceChildren(h('p', { class: 'loading', role: 'status' }, h('span', { class: 'spinner', 'aria-hidden': 'true' }), text));
}

function showLoadError(e) {
  const retry = h('button', { type: 'button', class: 'btn btn-secondary', onclick: () => render() }, 'Erneut versuchen');
  $main().replaceChildren(
    h('section', { class: 'card narrow' },
      h('h1', { tabindex: '-1' }, 'Das hat nicht geklappt'),
      h('p', { class: 'form-error', role: 'alert', 'data-testid': 'form-error' }, e.message || FALLBACK_MSG),
      h('div', { class: 'actions' }, retry)),
  );
}

async function load(ctx, fn) {
  showLoading();
  try {
    const r = await fn();
    return ctx.alive() ? r : null;
  } catch (e) {
    if (!e.silent && ctx.alive()) showLoadError(e);
    return null;
  }
}

// ---------------------------------------------------------------------------------------------
// Form building blocks

function field(id, label, input, hint) {
  return h('div', { class: 'field' },
    h('label', { for: id }, label),
    input,
    hint ? h('p', { class: 'hint', id: `${id}-hint` }, hint) : null);
}

function errorBox() {
  return h('p', { class: 'form-error', role: 'alert', 'data-testid': 'form-error', hidden: true });
}

const RULES = [
  ['length', 'Mindestens 12 Zeichen', (p) => [...p].length >= 12],
  ['lower', 'Ein Kleinbuchstabe (a–z)', (p) => /[a-z]/.test(p)],
  ['upper', 'Ein Großbuchstabe (A–Z)', (p) => /[A-Z]/.test(p)],
  ['digit', 'Eine Ziffer (0–9)', (p) => /[0-9]/.test(p)],
];

// New password + repeat, with the rules (mirroring the Cognito policy) ticked live.
function passwordPair(prefix, pwTestid, repeatTestid, onChange) {
  const rulesId = `${prefix}-rules`;
  const pw = h('input', {
    id: `${prefix}-pw`, type: 'password', autocomplete: 'new-password', 'data-testid': pwTestid,
    'aria-describedby': rulesId, required: true, spellcheck: 'false',
  });
  const rep = h('input', {
    id: `${prefix}-pw2`, type: 'password', autocomplete: 'new-password', 'data-testid': repeatTestid,
    'aria-describedby': `${prefix}-match`, required: true, spellcheck: 'false',
  });
  const items = RULES.map(([key, text]) => h('li', { 'data-testid': `rule-${key}`, 'data-rule': key },
    text, h('span', { class: 'sr-only' }, ' – noch nicht erfüllt')));
  const matchItem = h('li', { 'data-testid': 'rule-match', id: `${prefix}-match` },
    'Beide Eingaben stimmen überein', h('span', { class: 'sr-only' }, ' – noch nicht erfüllt'));
  const toggle = h('button', { type: 'button', class: 'btn-link reveal' }, 'Passwort anzeigen');

  const state = { ok: false, value: '' };
  const tick = (li, ok) => {
    li.classList.toggle('ok', ok);
    li.lastChild.textContent = ok ? ' – erfüllt' : ' – noch nicht erfüllt';
  };
  const update = () => {
    const p = pw.value;
    let all = true;
    RULES.forEach(([, , test], i) => {
      const ok = test(p);
      all = all && ok;
      tick(items[i], ok);
    });
    const match = p.length > 0 && p === rep.value;
    tick(matchItem, match);
    state.ok = all && match;
    state.value = p;
    onChange(state.ok);
  };
  pw.addEventListener('input', update);
  rep.addEventListener('input', update);
  toggle.addEventListener('click', () => {
    const reveal = pw.type === 'password';
    pw.type = rep.type = reveal ? 'text' : 'password';
    toggle.textContent = reveal ? 'Passwort verbergen' : 'Passwort anzeigen';
  });

  const node = h('div', { class: 'pw-pair' },
    field(pw.id, 'Neues Passwort', pw),
    h('ul', { class: 'rules', id: rulesId, 'aria-label': 'Passwortregeln' }, items),
    field(rep.id, 'Passwort wiederholen', rep),
    h('ul', { class: 'rules one' }, matchItem),
    toggle);
  return { node, state, focus: () => pw.focus() };
}

function heading(text, sub) {
  return [h('h1', { tabindex: '-1' }, text), sub ? h('p', { class: 'lead' }, sub) : null];
}

// ---------------------------------------------------------------------------------------------
// #/einladung/<token>

async function viewInvite(ctx, token) {
  const path = `/invitations/${encodeURIComponent(token)}`;
  showLoading('Einladung wird geprüft …');
  let inv;
  try {
    inv = await publicApi('GET', path);
  } catch (e) {
    if (!ctx.alive()) return;
    if (e.status === 0 || e.status >= 500) throw e;
    const box = h('div', { class: 'support-mini' });
    show(ctx, 'Einladung',
      h('section', { class: 'card narrow' },
        heading('Einladung annehmen'),
        h('p', { class: 'form-error', role: 'alert', 'data-testid': 'form-error' }, e.message),
        h('p', null, 'Bitte wende dich an unseren Support, damit wir dir eine neue Einladung schicken.'),
        box,
        h('p', null, h('a', { href: '#/anmelden' }, 'Du hast schon ein Passwort? Zur Anmeldung'))));
    publicApi('GET', '/config').then((c) => { if (ctx.alive()) box.append(supportContact(c.support)); }, () => {});
    return;
  }

  const err = errorBox();
  const submit = h('button', { type: 'submit', class: 'btn', 'data-testid': 'accept-submit', disabled: true }, 'Passwort festlegen');
  const pair = passwordPair('inv', 'password', 'password-repeat', (ok) => { submit.disabled = !ok || sending; });
  let sending = false;
  const email = h('input', {
    id: 'inv-email', type: 'email', readonly: true, autocomplete: 'username',
    'data-testid': 'invite-email', value: inv.email,
  });

  const form = h('form', { novalidate: true, 'aria-describedby': 'inv-intro' },
    field('inv-email', 'E-Mail', email, 'An diese Adresse ist dein Zugang gebunden.'),
    pair.node,
    err,
    h('div', { class: 'actions' }, submit));

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (sending || !pair.state.ok) return;
    sending = true;
    formError(err, '');
    const restore = busy(submit, 'Passwort wird gespeichert …');
    const password = pair.state.value;
    try {
      const res = await publicApi('POST', `${path}/accept`, { password });
      lastEmail = (res && res.email) || inv.email;
    } catch (e) {
      sending = false;
      restore();
      submit.disabled = !pair.state.ok;
      formError(err, e.message);
      return;
    }
    submit.textContent = 'Anmeldung läuft …';
    try {
      await signIn(lastEmail, password);
      flash(`Willkommen, ${inv.store_name}! Dein Zugang ist eingerichtet.`, 'ok');
      navigate('#/profil', true);
    } catch (e) {
      flash(`Dein Passwort ist gespeichert. Bitte melde dich jetzt an. ${e.status === 0 ? NET_MSG : ''}`.trim(), 'info');
      navigate('#/anmelden', true);
    }
  });

  show(ctx, 'Einladung annehmen',
    h('section', { class: 'card narrow' },
      heading('Einladung annehmen'),
      h('p', { class: 'lead', id: 'inv-intro' },
        'Lege dein Passwort für das SIDES Kundenportal fest. Wir speichern es nicht bei SIDES – bitte merke es dir gut.'),
      h('div', { class: 'store-box' },
        h('span', { class: 'eyebrow' }, 'Einladung für'),
        h('strong', { 'data-testid': 'invite-store' }, inv.store_name),
        inv.expires_at ? h('span', { class: 'hint' }, `Gültig bis ${fmtDateTime(inv.expires_at)} Uhr`) : null),
      form));
}

function supportContact(s) {
  if (!s) return null;
  return h('ul', { class: 'contact' },
    s.email ? h('li', null, h('span', { class: 'k' }, 'E-Mail'), h('a', { href: `mailto:${s.email}` }, s.email)) : null,
    s.phone ? h('li', null, h('span', { class: 'k' }, 'Telefon'), h('a', { href: `tel:${String(s.phone).replace(/[^+\d]/g, '')}` }, s.phone)) : null,
    s.hours ? h('li', null, h('span', { class: 'k' }, 'Erreichbar'), h('span', null, s.hours)) : null);
}

// ---------------------------------------------------------------------------------------------
// #/anmelden

function viewLogin(ctx) {
  const err = errorBox();
  const email = h('input', { id: 'login-email', type: 'email', autocomplete: 'username', inputmode: 'email', 'data-testid': 'login-email', value: lastEmail, required: true, spellcheck: 'false' });
  const pw = h('input', { id: 'login-pw', type: 'password', autocomplete: 'current-password', 'data-testid': 'login-password', required: true });
  const submit = h('button', { type: 'submit', class: 'btn', 'data-testid': 'login-submit' }, 'Anmelden');
  let sending = false;

  const form = h('form', { novalidate: true },
    field('login-email', 'E-Mail', email),
    field('login-pw', 'Passwort', pw),
    err,
    h('div', { class: 'actions spread' },
      submit,
      h('a', { href: '#/passwort-vergessen', 'data-testid': 'forgot-link' }, 'Passwort vergessen?')));

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (sending) return;
    const e = email.value.trim();
    if (!e || !pw.value) {
      formError(err, 'Bitte gib deine E-Mail-Adresse und dein Passwort ein.');
      (e ? pw : email).focus();
      return;
    }
    sending = true;
    formError(err, '');
    const restore = busy(submit, 'Anmeldung läuft …');
    try {
      await signIn(e, pw.value);
      const target = returnTo && !returnTo.startsWith('#/anmelden') ? returnTo : '#/profil';
      returnTo = null;
      navigate(target, true);
    } catch (x) {
      sending = false;
      restore();
      formError(err, x.message);
      pw.select();
    }
  });

  show(ctx, 'Anmelden',
    h('section', { class: 'card narrow' },
      heading('Anmelden', 'Melde dich mit der E-Mail-Adresse an, an die deine Einladung ging.'),
      form));
}

// ---------------------------------------------------------------------------------------------
// #/passwort-vergessen and #/passwort-zuruecksetzen

function viewForgot(ctx) {
  const err = errorBox();
  const email = h('input', { id: 'forgot-email', type: 'email', autocomplete: 'username', inputmode: 'email', 'data-testid': 'forgot-email', value: lastEmail, required: true, spellcheck: 'false' });
  const submit = h('button', { type: 'submit', class: 'btn', 'data-testid': 'forgot-submit' }, 'Code anfordern');
  let sending = false;
  const form = h('form', { novalidate: true },
    field('forgot-email', 'E-Mail', email),
    err,
    h('div', { class: 'actions spread' }, submit, h('a', { href: '#/anmelden' }, 'Zurück zur Anmeldung')));

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (sending) return;
    const e = email.value.trim();
    if (!e.includes('@')) {
      formError(err, 'Bitte gib eine gültige E-Mail-Adresse ein.');
      email.focus();
      return;
    }
    sending = true;
    formError(err, '');
    const restore = busy(submit, 'Wird gesendet …');
    try {
      await publicApi('POST', '/auth/forgot-password', { email: e });
      lastEmail = e;
      flash('Falls zu dieser E-Mail-Adresse ein Zugang besteht, haben wir dir einen Code geschickt. Schau auch im Spam-Ordner nach.', 'ok');
      navigate('#/passwort-zuruecksetzen');
    } catch (x) {
      sending = false;
      restore();
      formError(err, x.message);
    }
  });

  show(ctx, 'Passwort vergessen',
    h('section', { class: 'card narrow' },
      heading('Passwort vergessen?', 'Kein Problem. Gib deine E-Mail-Adresse ein, wir schicken dir einen Code, mit dem du ein neues Passwort festlegst.'),
      form));
}

function viewReset(ctx) {
  const err = errorBox();
  const submit = h('button', { type: 'submit', class: 'btn', 'data-testid': 'reset-submit', disabled: true }, 'Passwort ändern');
  let sending = false;
  const email = h('input', { id: 'reset-email', type: 'email', autocomplete: 'username', inputmode: 'email', 'data-testid': 'reset-email', value: lastEmail, required: true, spellcheck: 'false' });
  const code = h('input', { id: 'reset-code', type: 'text', autocomplete: 'one-time-code', inputmode: 'numeric', 'data-testid': 'reset-code', required: true, spellcheck: 'false' });
  const formOk = () => pair.state.ok && email.value.trim() !== '' && code.value.trim() !== '';
  const pair = passwordPair('reset', 'reset-password', 'reset-password-repeat', () => { submit.disabled = !formOk() || sending; });
  const sync = () => { submit.disabled = !formOk() || sending; };
  email.addEventListener('input', sync);
  code.addEventListener('input', sync);

  const form = h('form', { novalidate: true },
    field('reset-email', 'E-Mail', email),
    field('reset-code', 'Code aus der E-Mail', code),
    pair.node,
    err,
    h('div', { class: 'actions spread' }, submit, h('a', { href: '#/passwort-vergessen' }, 'Neuen Code anfordern')));

  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (sending || !formOk()) return;
    sending = true;
    formError(err, '');
    const restore = busy(submit, 'Passwort wird gespeichert …');
    const e = email.value.trim();
    try {
      await publicApi('POST', '/auth/reset-password', { email: e, code: code.value.trim(), password: pair.state.value });
      lastEmail = e;
      flash('Passwort geändert. Du kannst dich jetzt mit deinem neuen Passwort anmelden.', 'ok');
      navigate('#/anmelden');
    } catch (x) {
      sending = false;
      restore();
      submit.disabled = !formOk();
      formError(err, x.message);
    }
  });

  show(ctx, 'Neues Passwort',
    h('section', { class: 'card narrow' },
      heading('Neues Passwort festlegen', 'Gib den Code aus der E-Mail ein und wähle ein neues Passwort.'),
      form));
}

// ---------------------------------------------------------------------------------------------
// #/profil

function accountBanner(p) {
  const cur = p.currency || 'EUR';
  if (p.account_status === 'blocked') {
    return h('section', { class: 'banner banner-blocked', 'data-testid': 'account-banner', 'data-status': 'blocked', 'aria-labelledby': 'banner-title' },
      h('h2', { id: 'banner-title' }, 'Deine Kasse ist gesperrt'),
      h('p', null,
        p.blocked_since ? `Seit ${fmtDate(p.blocked_since)} ist dein Kassensystem gesperrt, ` : 'Dein Kassensystem ist gesperrt, ',
        'weil Rechnungen überfällig sind.'),
      h('p', null, 'Überfälliger Betrag: ', h('strong', { class: 'num' }, money(p.overdue_balance_cents, cur))),
      h('p', null, 'Sobald du die überfälligen Rechnungen bezahlst, wird deine Kasse sofort wieder freigeschaltet.'),
      h('p', null, h('a', { class: 'btn', href: '#/rechnungen?status=open' }, 'Offene Rechnungen ansehen')));
  }
  return h('section', { class: 'banner banner-active', 'data-testid': 'account-banner', 'data-status': 'active' },
    h('p', null, h('strong', null, 'Dein Kassensystem ist freigeschaltet.')));
}

async function viewProfile(ctx) {
  const p = await load(ctx, () => api('GET', '/profile'));
  if (!p) return;
  const s = p.store || {};
  const a = s.address || {};
  const cur = p.currency || 'EUR';

  const banner = accountBanner(p);

  const row = (k, ...v) => h('div', null, h('dt', null, k), h('dd', null, ...v));
  const open = Number(p.open_balance_cents) || 0;

  show(ctx, 'Profil',
    h('h1', { tabindex: '-1', class: 'page-title' }, 'Dein Rechnungsprofil'),
    banner,
    h('div', { class: 'grid2' },
      h('section', { class: 'card', 'aria-labelledby': 'store-h' },
        h('h2', { id: 'store-h', class: 'eyebrow' }, 'Store'),
        h('p', { class: 'store-name', 'data-testid': 'profile-store-name' }, s.name || '—'),
        h('dl', { class: 'facts' },
          row('Anschrift', h('span', { class: 'addr' },
            a.street || '', h('br'), `${a.postal_code || ''} ${a.city || ''}`.trim(),
            a.country && a.country !== 'DE' ? [h('br'), fmtCountry(a.country)] : null)),
          row('Rechnungs-E-Mail', s.billing_email || '—'),
          row('USt-IdNr.', s.vat_id || '—'))),
      h('section', { class: 'card', 'aria-labelledby': 'bal-h' },
        h('h2', { id: 'bal-h', class: 'eyebrow' }, 'Offener Betrag'),
        h('p', { class: `balance num${Number(p.overdue_balance_cents) > 0 ? ' due' : ''}`, 'data-testid': 'open-balance' }, money(open, cur)),
        h('p', { class: 'hint' }, open > 0 ? 'Summe deiner offenen Rechnungen.' : 'Alles bezahlt – danke!'),
        Number(p.overdue_balance_cents) > 0 && p.account_status !== 'blocked'
          ? h('p', { class: 'due' }, `Davon überfällig: ${money(p.overdue_balance_cents, cur)}`) : null,
        h('p', { class: 'actions' }, h('a', { class: 'btn btn-secondary', href: '#/rechnungen' }, 'Alle Rechnungen')))),
    pmSection(p));
}

// --- Saved card and automatic charges. Stripe only confirms the SetupIntent; what is saved is
// decided by the backend (/payment-method/card/confirm reads the SetupIntent from Stripe).

const SETUP_3DS = 'Die Bestätigung (3-D Secure) wurde abgebrochen. Die Karte wurde nicht gespeichert.';
const BRANDS = { amex: 'American Express', diners: 'Diners Club', jcb: 'JCB', unionpay: 'UnionPay', unknown: 'Karte' };
const brandName = (b) => BRANDS[b] || (b ? b[0].toUpperCase() + b.slice(1) : 'Karte');
// Real Stripe.js: code setup_intent_authentication_failure; the local stand-in: only a message.
const setupErrText = (e) => (/authentication.fail/i.test(`${e.code} ${e.message}`) ? SETUP_3DS
  : e.code === 'card_declined' ? 'Deine Karte wurde abgelehnt. Bitte nutze eine andere Karte.'
    : (e.code !== 'insufficient_funds' && PAY_FAIL[e.code]) || 'Die Karte konnte nicht gespeichert werden. Bitte prüfe deine Kartendaten und versuche es erneut.');

function pmSection(p) {
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
  const btn = (tid, text, cls = 'btn btn-secondary') => h('button', { type: 'button', class: cls, 'data-testid': tid }, text);
  let kids;
  if (!pm) {
    const add = btn('save-card', 'Karte speichern', 'btn');
    add.addEventListener('click', () => pmSetup(sec, p));
    kids = [h('p', { 'data-testid': 'no-card' }, 'Noch keine Karte hinterlegt.'),
      h('p', { class: 'hint' }, 'Mit einer gespeicherten Karte kann die Lizenzgebühr jeden Monat automatisch abgebucht werden.'),
      h('div', { class: 'actions' }, add)];
  } else {
    const hint = o.saved && !p.autopay;
    const toggle = h('input', { type: 'checkbox', id: 'autopay', class: 'switch', 'data-testid': 'autopay-toggle', checked: Boolean(p.autopay), 'aria-describedby': hint ? 'autopay-hint' : null });
    const apErr = h('p', { class: 'form-error', role: 'alert', 'data-testid': 'autopay-error', hidden: true });
    const other = btn('replace-card', 'Neue Karte hinterlegen');
    const rm = btn('remove-card', 'Karte entfernen');
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
      const yes = btn('remove-card-confirm', 'Wirklich entfernen?', 'btn');
      const no = btn('remove-card-cancel', 'Abbrechen');
      const err = errorBox();
      const box = h('div', { class: 'confirm', role: 'group', 'aria-labelledby': 'rm-q' },
        h('p', { id: 'rm-q' }, 'Die Karte wird gelöscht und die automatische Abbuchung ausgeschaltet.'), err,
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
    h('div', { class: 'switch-row' }, toggle, h('label', { for: 'autopay' }, 'Lizenzgebühr jeden Monat automatisch abbuchen')),
    hint ? h('p', { class: 'pay-info', id: 'autopay-hint', 'data-testid': 'autopay-hint' }, 'Schalte die automatische Abbuchung ein, damit die Lizenzgebühr jeden Monat bezahlt wird.')
      : h('p', { class: 'hint' }, p.autopay ? 'Die Lizenzgebühr wird jeden Monat von dieser Karte abgebucht.' : 'Aus: Du bezahlst deine Rechnungen selbst hier im Portal.'),
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
  const mount = h('div', { id: 'setup-card-element', class: 'card-input', 'data-testid': 'setup-card-element', role: 'group', 'aria-labelledby': 'setup-label' });
  const cardErr = h('p', { class: 'card-error', 'data-testid': 'setup-card-error', role: 'alert', hidden: true });
  const error = h('p', { class: 'form-error', role: 'alert', 'data-testid': 'setup-error', hidden: true });
  const progress = h('p', { class: 'pay-progress', 'data-testid': 'setup-progress', role: 'status', hidden: true });
  const submit = h('button', { type: 'submit', class: 'btn', 'data-testid': 'setup-submit' }, 'Karte speichern');
  const back = h('button', { type: 'button', class: 'btn btn-secondary', 'data-testid': 'setup-cancel' }, 'Abbrechen');
  const form = h('form', { novalidate: true, class: 'pay-form', 'aria-labelledby': 'pm-h' },
    h('div', { class: 'field' }, h('span', { id: 'setup-label', class: 'label' }, 'Kartendaten'), mount, cardErr),
    h('p', { class: 'hint' }, STRIPE_HINT, ' Deine Bank fragt eventuell nach einer Bestätigung (3-D Secure).'),
    error, progress, h('div', { class: 'actions' }, submit, back));
  v = pmBody(sec, form);
  const card = cardElement(stripe);
  card.mount(mount);
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

// ---------------------------------------------------------------------------------------------
// #/rechnungen

const FILTERS = [['all', 'Alle'], ['open', 'Offen'], ['paid', 'Bezahlt']];
const EMPTY = { all: 'Du hast noch keine Rechnungen.', open: 'Keine offenen Rechnungen – alles erledigt.', paid: 'Noch keine bezahlten Rechnungen.' };
let lastListHash = '#/rechnungen';

async function viewInvoices(ctx) {
  const status = FILTERS.some(([k]) => k === ctx.params.get('status')) ? ctx.params.get('status') : 'all';
  lastListHash = location.hash;
  const listUrl = (cursor) => `/invoices?status=${status}&limit=20${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`;

  const filters = h('div', { class: 'filters', role: 'group', 'aria-label': 'Rechnungen filtern' },
    FILTERS.map(([k, label]) => h('a', {
      class: 'chip', href: k === 'all' ? '#/rechnungen' : `#/rechnungen?status=${k}`,
      'data-testid': `filter-${k}`, 'aria-current': k === status ? 'true' : null,
    }, label)));

  const header = [h('div', { class: 'page-head' }, h('h1', { tabindex: '-1', class: 'page-title' }, 'Rechnungen'), filters)];
  const first = await load(ctx, () => api('GET', listUrl()));
  if (!first) return;

  if (!first.items.length) {
    show(ctx, 'Rechnungen', ...header, h('p', { class: 'card empty' }, EMPTY[status]));
    return;
  }

  const tbody = h('tbody');
  const err = errorBox();
  const more = h('button', { type: 'button', class: 'btn btn-secondary', 'data-testid': 'load-more' }, 'Weitere laden');
  let cursor = first.next_cursor;
  const addRows = (items) => {
    const rows = items.map(invoiceRow);
    tbody.append(...rows);
    return rows;
  };
  addRows(first.items);
  more.hidden = !cursor;
  more.addEventListener('click', async () => {
    if (more.disabled || !cursor) return;
    formError(err, '');
    const restore = busy(more, 'Wird geladen …');
    try {
      const page = await api('GET', listUrl(cursor));
      if (!ctx.alive()) return;
      const rows = addRows(page.items);
      cursor = page.next_cursor;
      restore();
      more.hidden = !cursor;
      rows[0]?.querySelector('a')?.focus();
    } catch (e) {
      if (e.silent) return;
      restore();
      formError(err, e.message);
    }
  });

  const table = h('table', { class: 'invoices' },
    h('caption', { class: 'sr-only' }, `Rechnungen (${FILTERS.find(([k]) => k === status)[1]})`),
    h('thead', null, h('tr', null,
      h('th', { scope: 'col' }, 'Nummer'),
      h('th', { scope: 'col' }, 'Datum'),
      h('th', { scope: 'col' }, 'Beschreibung'),
      h('th', { scope: 'col', class: 'r' }, 'Betrag'),
      h('th', { scope: 'col' }, 'Status'))),
    tbody);

  show(ctx, 'Rechnungen', ...header, h('div', { class: 'card flush' }, table), err,
    h('div', { class: 'actions center' }, more));
  watchProcessing(ctx, tbody);
}

// Rows "in Bearbeitung" turn into "bezahlt" (or back to "offen") on their own, for a minute.
function watchProcessing(ctx, tbody) {
  let rounds = 0;
  const tick = async () => {
    const rows = [...tbody.querySelectorAll('tr[data-status="processing"]')];
    if (!ctx.alive() || !rows.length || rounds++ >= 20) return;
    await Promise.all(rows.map(async (tr) => {
      try {
        const inv = await api('GET', `/invoices/${encodeURIComponent(tr.dataset.id)}`);
        if (ctx.alive() && inv.status !== 'processing') tr.replaceWith(invoiceRow(inv));
      } catch { /* next round */ }
    }));
    setTimeout(tick, 3000);
  };
  setTimeout(tick, 3000);
}

function invoiceRow(inv) {
  const href = `#/rechnungen/${encodeURIComponent(inv.id)}`;
  const tr = h('tr', { 'data-testid': 'invoice-row', 'data-id': inv.id, 'data-status': inv.status, 'data-overdue': String(Boolean(inv.overdue)), class: 'clickable' },
    h('td', { class: 'c-num' }, h('a', { href, 'data-testid': 'invoice-number' }, inv.number)),
    h('td', { class: 'c-date' }, fmtDate(inv.issue_date)),
    h('td', { class: 'c-desc' }, inv.description || ''),
    h('td', { class: `c-amt r num${inv.status === 'void' ? ' void' : ''}` }, money(inv.gross_cents, inv.currency)),
    h('td', { class: 'c-status' }, statusBadge(inv)));
  tr.addEventListener('click', (ev) => {
    if (ev.target.closest('a') || window.getSelection()?.toString()) return;
    navigate(href);
  });
  return tr;
}

// ---------------------------------------------------------------------------------------------
// #/rechnungen/<id>

async function viewInvoice(ctx, id) {
  const inv = await load(ctx, () => api('GET', `/invoices/${encodeURIComponent(id)}`));
  if (!inv) return;
  const cur = inv.currency || 'EUR';
  const row = (k, v, tid) => h('div', null, h('dt', null, k), h('dd', tid ? { 'data-testid': tid } : null, v));

  const err = errorBox();
  const pdf = h('button', { type: 'button', class: 'btn', 'data-testid': 'pdf-download' }, 'PDF herunterladen');
  pdf.addEventListener('click', async () => {
    if (pdf.disabled) return;
    formError(err, '');
    const restore = busy(pdf, 'PDF wird vorbereitet …');
    try {
      const d = await api('GET', `/invoices/${encodeURIComponent(inv.id)}/pdf`);
      // Presigned URL, served as attachment: the page stays where it is.
      const a = h('a', { href: d.url, download: d.filename || `Rechnung-${inv.number}.pdf`, hidden: true });
      document.body.append(a);
      a.click();
      a.remove();
    } catch (e) {
      if (!e.silent) formError(err, e.message);
    } finally {
      if (ctx.alive()) restore();
    }
  });

  const lines = h('table', { class: 'stack lines' },
    h('caption', { class: 'sr-only' }, 'Rechnungspositionen'),
    h('thead', null, h('tr', null,
      h('th', { scope: 'col' }, 'Beschreibung'),
      h('th', { scope: 'col', class: 'r' }, 'Menge'),
      h('th', { scope: 'col', class: 'r' }, 'Einzelpreis netto'),
      h('th', { scope: 'col', class: 'r' }, 'USt.'),
      h('th', { scope: 'col', class: 'r' }, 'Netto'))),
    h('tbody', null, (inv.lines || []).map((l) => h('tr', null,
      h('td', { 'data-label': 'Beschreibung' }, l.description),
      h('td', { class: 'r num', 'data-label': 'Menge' }, numFmt.format(Number(l.quantity))),
      h('td', { class: 'r num', 'data-label': 'Einzelpreis netto' }, money(l.unit_net_cents, cur)),
      h('td', { class: 'r num', 'data-label': 'USt.' }, `${numFmt.format(Number(l.tax_rate_percent))} %`),
      h('td', { class: 'r num', 'data-label': 'Netto' }, money(l.net_cents, cur))))),
    h('tfoot', null,
      h('tr', null, h('th', { scope: 'row', colspan: '4' }, 'Summe netto'), h('td', { class: 'r num' }, money(inv.net_cents, cur))),
      h('tr', null, h('th', { scope: 'row', colspan: '4' }, 'Umsatzsteuer'), h('td', { class: 'r num' }, money(inv.tax_cents, cur))),
      h('tr', { class: 'total' }, h('th', { scope: 'row', colspan: '4' }, 'Gesamtbetrag brutto'), h('td', { class: 'r num', 'data-testid': 'invoice-gross' }, money(inv.gross_cents, cur)))));

  const isOverdue = inv.status === 'open' && inv.overdue;
  show(ctx, `Rechnung ${inv.number}`,
    h('p', { class: 'back' }, h('a', { href: lastListHash }, '← Alle Rechnungen')),
    h('div', { class: 'page-head' },
      h('h1', { tabindex: '-1', class: 'page-title' }, 'Rechnung ', h('span', { class: 'nowrap', 'data-testid': 'invoice-number' }, inv.number)),
      statusBadge(inv, 'inv-status')),
    h('section', { class: 'card', 'aria-label': 'Rechnungsdaten' },
      h('dl', { class: 'facts cols', id: 'inv-facts' },
        row('Rechnungsdatum', fmtDate(inv.issue_date)),
        row('Fällig am', h('span', { class: isOverdue ? 'due' : null }, fmtDate(inv.due_date))),
        inv.period ? row('Leistungszeitraum', fmtPeriod(inv.period)) : null,
        row('Beschreibung', inv.description || '—'),
        row('Gesamtbetrag', h('strong', { class: 'num' }, money(inv.gross_cents, cur))),
        inv.paid_at ? paidAtRow(inv) : null),
      err,
      h('div', { class: 'actions' }, pdf,
        h('a', { class: 'btn btn-secondary', href: `#/support?invoice=${encodeURIComponent(inv.id)}` }, 'Frage zur Rechnung'))),
    // Payment UI (see renderPayBox).
    h('section', { id: 'pay-box', class: 'pay-box', 'aria-labelledby': 'pay-title' }),
    h('section', { class: 'card flush', 'aria-labelledby': 'lines-h' },
      h('h2', { id: 'lines-h', class: 'pad' }, 'Positionen'),
      h('div', { class: 'scroll' }, lines)),
    h('div', { id: 'inv-payments' }, paymentsTable(inv)));
  renderPayBox(inv, ctx);
}

const paidAtRow = (inv) => h('div', null, h('dt', null, 'Bezahlt am'), h('dd', { 'data-testid': 'invoice-paid-at' }, fmtDate(inv.paid_at)));

function paymentsTable(inv) {
  const cur = inv.currency || 'EUR';
  if (!(inv.payments || []).length) return null;
  return h('section', { class: 'card flush', 'aria-labelledby': 'pay-h' },
    h('h2', { id: 'pay-h', class: 'pad' }, 'Zahlungen'),
    h('table', { class: 'stack payments' },
      h('thead', null, h('tr', null,
        h('th', { scope: 'col' }, 'Datum'),
        h('th', { scope: 'col' }, 'Zahlungsart'),
        h('th', { scope: 'col', class: 'r' }, 'Betrag'),
        h('th', { scope: 'col' }, 'Status'))),
      h('tbody', null, inv.payments.map((p) => h('tr', { 'data-testid': 'payment-row', 'data-status': p.status },
        h('td', { 'data-label': 'Datum' }, fmtDateTime(p.created_at)),
        h('td', { 'data-label': 'Zahlungsart' }, `${PAY_METHOD[p.method] || p.method}${p.kind === 'autopay' ? ' (automatisch)' : ''}`),
        h('td', { class: 'r num', 'data-label': 'Betrag' }, money(p.amount_cents, p.currency || cur)),
        h('td', { 'data-label': 'Status' }, h('span', { class: `pay-status pay-${p.status}` }, PAY_STATUS[p.status] || p.status)))))));
}

// After a payment: status badge, "Bezahlt am" and the payments table follow the invoice in place.
function updateInvoiceView(inv) {
  document.getElementById('inv-status')?.replaceWith(statusBadge(inv, 'inv-status'));
  const facts = document.getElementById('inv-facts');
  if (!(inv.status === 'open' && inv.overdue)) facts?.querySelector('.due')?.classList.remove('due');
  const paidAt = facts?.querySelector('[data-testid="invoice-paid-at"]');
  if (inv.paid_at && facts) {
    if (paidAt) paidAt.textContent = fmtDate(inv.paid_at);
    else facts.append(paidAtRow(inv));
  }
  document.getElementById('inv-payments')?.replaceChildren(...[paymentsTable(inv)].filter(Boolean));
}

// ============================= Paying an invoice =============================================
// Card through Stripe.js (loaded only when the owner picks card), PayPal by redirect. The
// backend is the truth: after every provider step we ask it (/complete, GET invoice) instead
// of trusting what the browser saw.

const THREE_DS_MSG = 'Die Bestätigung (3-D Secure) wurde abgebrochen oder ist fehlgeschlagen. Die Rechnung ist weiter offen – du kannst es erneut versuchen.';
const PAY_FAIL = {
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
const CARD_ERR = {
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

const payRunning = new Set(); // invoice ids with a payment being started or confirmed in this tab
let payNote = null; // outcome to show once on its invoice (after the PayPal round trip)
let pendingPaypal = null; // {action, paymentId} taken from the PayPal return address
let configP = null;
let stripeJsP = null;
let stripeApi = null; // [publishable key, Stripe instance]
const sleep = (ms) => new Promise((r) => { setTimeout(r, ms); });
const enc = encodeURIComponent;
const isOpenPayment = (p) => p.status === 'pending' || p.status === 'requires_action';

function payFailText(p) {
  if (p && p.failure_message) return p.failure_message;
  const code = p && (p.failure_code || (p.status === 'canceled' ? (p.method === 'paypal' ? 'paypal_canceled' : 'canceled') : ''));
  return PAY_FAIL[code] || PAY_FAIL_ANY;
}
// Stripe's own validation and card messages follow the browser language; anything else
// (a failed request, a script error) is not for the owner's eyes.
const cardErrText = (e) => (e && (CARD_ERR[e.code] || (/^(validation|card)_error$/.test(e.type) && e.message)))
  || 'Bitte prüfe deine Kartendaten.';

function latestPayment(inv) {
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

function getConfig() {
  if (!configP) configP = publicApi('GET', '/config').catch((e) => { configP = null; throw e; });
  return configP;
}

// Stripe.js only when the owner chooses card: one <script>, added once (CSP allows its origin).
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

async function stripeFor(cfg) {
  const StripeJs = await loadStripeJs(cfg.stripe_js_url);
  if (!stripeApi || stripeApi[0] !== cfg.stripe_publishable_key) {
    stripeApi = [cfg.stripe_publishable_key, StripeJs(cfg.stripe_publishable_key)];
  }
  return stripeApi[1];
}

// --- Building blocks of the pay box ---

const STRIPE_HINT = 'Deine Kartendaten gehen direkt an unseren Zahlungsdienstleister Stripe, nicht an SIDES.';
const cardElement = (stripe) => stripe.elements().create('card', { hidePostalCode: true, style: { base: { fontSize: '16px', color: '#1c2233' } } });

const spinner = () => h('span', { class: 'spinner', 'aria-hidden': 'true' });

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

// UI controls shared by the card form and the PayPal choice.
function flowUi(buttons, progress, error, main) {
  return {
    progress(text) {
      progress.replaceChildren(...(text ? [spinner(), text] : []));
      progress.hidden = !text;
    },
    error: (text) => formError(error, text),
    lock(on) {
      for (const b of buttons) b.disabled = on;
      if (on) main.setAttribute('aria-busy', 'true');
      else main.removeAttribute('aria-busy');
    },
  };
}

export function renderPayBox(invoice, ctx) {
  const box = document.getElementById('pay-box');
  if (!box || !invoice) return;
  const pb = { box, inv: invoice, step: 0, wasBlocked: null, alive: () => box.isConnected && (!ctx || ctx.alive()) };
  const note = payNote && payNote.invoiceId === invoice.id ? payNote : null;
  if (note) {
    payNote = null;
    pb.wasBlocked = note.wasBlocked;
  }
  if (payRunning.has(invoice.id)) stepProcessing(pb);
  else if (note) outcome(pb, note.payment, true);
  else payState(pb);
}

// The view that fits the invoice's status; msg is the reason we are showing it again.
function payState(pb, msg) {
  const st = pb.inv.status;
  if (st === 'open') stepStart(pb, msg);
  else if (st === 'processing') stepProcessing(pb, msg);
  else if (st === 'paid') stepPaid(pb, msg);
  else if (msg) setBox(pb, 'Zahlung', msgP(msg));
  else setBox(pb, null);
}

function stepStart(pb, msg, focus) {
  const inv = pb.inv;
  const btn = h('button', { type: 'button', class: 'btn', 'data-testid': 'pay-now' }, 'Jetzt bezahlen');
  btn.addEventListener('click', () => stepChoice(pb));
  setBox(pb, 'Rechnung bezahlen',
    msgP(msg),
    h('p', null, inv.overdue ? 'Diese Rechnung ist überfällig. ' : '', 'Zu zahlen: ',
      h('strong', { class: 'num' }, money(inv.gross_cents, inv.currency))),
    h('div', { class: 'actions' }, btn));
  if (focus) btn.focus();
  getConfig().catch(() => {}); // warm up for the choice
}

async function stepChoice(pb) {
  const inv = pb.inv;
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
  const back = h('button', { type: 'button', class: 'btn btn-secondary', 'data-testid': 'pay-abort' }, 'Abbrechen');
  const progress = h('p', { class: 'pay-progress', 'data-testid': 'pay-progress', role: 'status', hidden: true });
  const error = h('p', { class: 'form-error', role: 'alert', 'data-testid': 'pay-error', hidden: true });
  const ui = flowUi([card, paypal, back].filter(Boolean), progress, error, paypal || card);
  card.addEventListener('click', () => { if (!payRunning.has(inv.id)) stepCard(pb, cfg); });
  paypal?.addEventListener('click', () => runPaypal(pb, ui));
  back.addEventListener('click', () => { if (!payRunning.has(inv.id)) stepStart(pb, null, true); });
  setBox(pb, 'Wie möchtest du bezahlen?',
    h('p', null, 'Zu zahlen: ', h('strong', { class: 'num' }, money(inv.gross_cents, inv.currency))),
    h('div', { class: 'pay-opts', role: 'group', 'aria-labelledby': 'pay-title' }, card, paypal),
    error, progress,
    h('div', { class: 'actions' }, back));
  card.focus();
}

async function stepCard(pb, cfg) {
  const inv = pb.inv;
  const step = setBox(pb, 'Mit Kreditkarte bezahlen', h('p', { class: 'loading' }, spinner(), 'Kartenformular wird geladen …'));
  let stripe;
  try {
    stripe = await stripeFor(cfg);
  } catch {
    if (pb.step === step && pb.alive()) stepFailed(pb, 'Das Kartenformular konnte nicht geladen werden. Bitte versuche es erneut oder wähle PayPal.', true);
    return;
  }
  if (pb.step !== step || !pb.alive()) return;

  const mount = h('div', { id: 'card-element', class: 'card-input', 'data-testid': 'card-element', role: 'group', 'aria-labelledby': 'card-label' });
  const cardErr = h('p', { id: 'card-error', class: 'card-error', 'data-testid': 'card-error', role: 'alert', hidden: true });
  const error = h('p', { class: 'form-error', role: 'alert', 'data-testid': 'pay-error', hidden: true });
  const progress = h('p', { class: 'pay-progress', 'data-testid': 'pay-progress', role: 'status', hidden: true });
  const submit = h('button', { type: 'submit', class: 'btn', 'data-testid': 'pay-submit' }, `${money(inv.gross_cents, inv.currency)} bezahlen`);
  const back = h('button', { type: 'button', class: 'btn btn-secondary', 'data-testid': 'pay-back' }, 'Andere Zahlungsart');
  const save = h('input', { type: 'checkbox', id: 'pay-save', 'data-testid': 'pay-save-card' });
  const form = h('form', { novalidate: true, class: 'pay-form' },
    h('div', { class: 'field' }, h('span', { id: 'card-label', class: 'label' }, 'Kartendaten'), mount, cardErr),
    h('div', { class: 'check-row' }, save, h('label', { for: 'pay-save' }, 'Karte für die monatliche Abbuchung speichern')),
    h('p', { class: 'hint' }, STRIPE_HINT),
    error, progress,
    h('div', { class: 'actions' }, submit, back));
  setBox(pb, 'Mit Kreditkarte bezahlen', form);

  const card = cardElement(stripe);
  card.mount(mount);
  const ui = flowUi([submit, back, save], progress, error, submit);
  ui.save = save;
  ui.cardError = (text) => formError(cardErr, text);
  // The stand-in calls the handler without an event; real Stripe.js passes {error, complete, …}.
  card.on('change', (ev) => { if (!payRunning.has(inv.id)) ui.cardError(ev && ev.error ? cardErrText(ev.error) : ''); });
  back.addEventListener('click', () => { if (!payRunning.has(inv.id)) stepChoice(pb); });
  form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    runCard(pb, stripe, card, ui);
  });
  pb.box.querySelector('#pay-title').focus();
}

async function runCard(pb, stripe, card, ui) {
  const inv = pb.inv;
  if (payRunning.has(inv.id)) return; // a second click never starts a second payment
  payRunning.add(inv.id);
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
      start = await api('POST', `/invoices/${enc(inv.id)}/payments`, { method: 'card', save_card: pb.saveCard });
    } catch (e) {
      if (!e.silent) await startFailed(pb, e, ui);
      return;
    }
    paymentId = start.payment_id;
    const res = await api('POST', `/payments/${enc(paymentId)}/card`, { token: tok.token.id });
    let payment = res.payment;
    if (res.requires_authentication) {
      ui.progress('Bitte bestätige die Zahlung bei deiner Bank (3-D Secure) …');
      try {
        await stripe.confirmCardPayment(res.client_secret);
      } catch { /* whatever happened, the backend asks Stripe next */ }
      ui.progress('Zahlung wird ausgeführt …');
      payment = await api('POST', `/payments/${enc(paymentId)}/complete`);
    }
    if (pb.alive()) outcome(pb, payment, focusWasHere(pb));
  } catch (e) {
    if (!e.silent) await cardTrouble(pb, paymentId, e, ui);
  } finally {
    payRunning.delete(inv.id);
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
  await refreshInvoice(pb);
  if (pb.alive()) stepFailed(pb, e.message, focusWasHere(pb));
}

async function runPaypal(pb, ui) {
  const inv = pb.inv;
  if (payRunning.has(inv.id)) return;
  payRunning.add(inv.id);
  ui.lock(true);
  ui.error('');
  ui.progress('Weiter zu PayPal …');
  try {
    const start = await api('POST', `/invoices/${enc(inv.id)}/payments`, { method: 'paypal' });
    const url = safeUrl(start.approve_url);
    if (url) {
      location.assign(url); // the payment id comes back in the return address
      return;
    }
    await api('POST', `/payments/${enc(start.payment_id)}/cancel`).catch(() => {});
    await refreshInvoice(pb);
    if (pb.alive()) stepFailed(pb, FALLBACK_MSG, true);
  } catch (e) {
    if (!e.silent) await startFailed(pb, e, ui);
  } finally {
    payRunning.delete(inv.id);
  }
}

// Opening the payment failed: 409/404 mean the invoice changed under us, so show it as it is now.
async function startFailed(pb, e, ui) {
  if (e.status === 409 || e.status === 404) {
    await refreshInvoice(pb);
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

async function refreshInvoice(pb) {
  try {
    const inv = await api('GET', `/invoices/${enc(pb.inv.id)}`);
    if (!pb.alive()) return;
    pb.inv = inv;
    updateInvoiceView(inv);
  } catch { /* keep what we have */ }
}

function outcome(pb, payment, focus) {
  if (payment && (payment.status === 'failed' || payment.status === 'canceled')) {
    refreshInvoice(pb); // badge and payments table follow; the box shows the reason now
    stepFailed(pb, payFailText(payment), focus);
  } else {
    stepProcessing(pb, null, focus);
  }
}

function stepFailed(pb, msg, focus) {
  const retry = h('button', { type: 'button', class: 'btn', 'data-testid': 'pay-retry' }, 'Erneut versuchen');
  retry.addEventListener('click', () => stepChoice(pb));
  setBox(pb, 'Zahlung nicht abgeschlossen', msgP(msg), h('div', { class: 'actions' }, retry));
  if (focus) retry.focus();
}

function stepProcessing(pb, msg, focus) {
  const status = h('p', { class: 'pay-processing', 'data-testid': 'pay-processing', role: 'status', tabindex: '-1' },
    spinner(), 'Zahlung wird verarbeitet …');
  const last = latestPayment(pb.inv);
  // Back from PayPal without finishing there (browser back button): let the owner start over.
  const stuck = last && last.method === 'paypal' && last.kind !== 'autopay' && isOpenPayment(last) && !payRunning.has(pb.inv.id);
  const step = setBox(pb, 'Zahlung läuft',
    msgP(msg),
    status,
    h('p', { class: 'hint' }, 'Das dauert meist nur wenige Sekunden. Die Seite aktualisiert sich von selbst.'),
    stuck ? [h('p', null, 'Du hast die Zahlung bei PayPal nicht abgeschlossen? Dann brich sie hier ab und starte neu.'),
      h('div', { class: 'actions' }, cancelButton(pb, last))] : null);
  if (focus) status.focus();
  pollInvoice(pb, step);
}

async function pollInvoice(pb, step) {
  const until = Date.now() + 60000;
  for (let i = 0; ; i += 1) {
    await sleep(i ? 1000 : 300);
    if (pb.step !== step || !pb.alive()) return;
    let inv = null;
    try {
      inv = await api('GET', `/invoices/${enc(pb.inv.id)}`);
    } catch (e) {
      if (e.silent) return;
    }
    if (pb.step !== step || !pb.alive()) return;
    if (inv) {
      pb.inv = inv;
      updateInvoiceView(inv);
      if (inv.status === 'paid') {
        stepSuccess(pb, focusWasHere(pb));
        return;
      }
      if (inv.status !== 'processing' && !payRunning.has(inv.id)) {
        const last = latestPayment(inv);
        if (inv.status === 'open' && last && (last.status === 'failed' || last.status === 'canceled')) stepFailed(pb, payFailText(last), focusWasHere(pb));
        else payState(pb);
        return;
      }
    }
    if (Date.now() > until) {
      stepSlow(pb);
      return;
    }
  }
}

function stepSlow(pb) {
  const check = h('button', { type: 'button', class: 'btn btn-secondary', 'data-testid': 'pay-check' }, 'Status prüfen');
  check.addEventListener('click', () => stepProcessing(pb, null, true));
  const last = latestPayment(pb.inv);
  setBox(pb, 'Zahlung läuft',
    h('p', { class: 'pay-info', role: 'status', 'data-testid': 'pay-slow' },
      'Die Zahlung ist noch nicht bestätigt. Das kann ein paar Minuten dauern – schau später noch einmal vorbei.'),
    h('div', { class: 'actions' }, check,
      last && last.kind !== 'autopay' && isOpenPayment(last) ? cancelButton(pb, last) : null));
}

function cancelButton(pb, payment) {
  const btn = h('button', { type: 'button', class: 'btn btn-secondary', 'data-testid': 'pay-cancel' }, 'Zahlung abbrechen');
  btn.addEventListener('click', async () => {
    if (btn.disabled) return;
    busy(btn, 'Wird abgebrochen …');
    let msg = null;
    try {
      msg = payFailText(await api('POST', `/payments/${enc(payment.id)}/cancel`));
    } catch (e) {
      if (e.silent) return;
      msg = e.message;
    }
    await refreshInvoice(pb);
    if (!pb.alive()) return;
    if (pb.inv.status === 'open') stepFailed(pb, msg, true);
    else payState(pb, msg);
  });
  return btn;
}

function stepSuccess(pb, focus) {
  const inv = pb.inv;
  const extra = h('div');
  const done = h('div', { class: 'pay-done', 'data-testid': 'pay-success', role: 'status', tabindex: '-1' },
    h('p', { class: 'pay-done-title' }, 'Bezahlt – danke!'),
    h('p', null, `Deine Zahlung über ${money(inv.gross_cents, inv.currency)} ist eingegangen.`),
    extra);
  setBox(pb, 'Zahlung', done);
  if (focus) done.focus();
  refreshAccount(pb, extra);
}

function stepPaid(pb, msg) {
  setBox(pb, 'Zahlung',
    msgP(msg, 'info'),
    h('p', { class: 'pay-paid', 'data-testid': 'pay-paid' }, pb.inv.paid_at ? `Bezahlt am ${fmtDate(pb.inv.paid_at)}` : 'Bezahlt'));
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

// Back from PayPal (/?paypal=return|cancel&payment=…): finish or cancel, then show the invoice.
async function finishPaypal(pp) {
  const seq = ++renderSeq;
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
      pendingPaypal = pp; // after signing in again
      return;
    }
    try {
      payment = await api('GET', path);
    } catch (e2) {
      if (e2.silent) {
        pendingPaypal = pp;
        return;
      }
      if (seq !== renderSeq) return;
      flash(e.message, 'error');
      navigate('#/rechnungen', true);
      return;
    }
  }
  if (seq !== renderSeq) return; // the owner went elsewhere meanwhile
  payNote = { invoiceId: payment.invoice_id, payment, wasBlocked };
  navigate(`#/rechnungen/${enc(payment.invoice_id)}`, true);
}
// =============================================================================================

// ---------------------------------------------------------------------------------------------
// #/support

async function viewSupport(ctx) {
  const data = await load(ctx, () => Promise.all([
    publicApi('GET', '/config').catch(() => null),
    api('GET', '/invoices?status=all&limit=20').catch((e) => { if (e.silent) throw e; return { items: [] }; }),
  ]));
  if (!data) return;
  const [config, invoices] = data;
  const pre = ctx.params.get('invoice') || '';

  const err = errorBox();
  const subject = h('input', { id: 'sup-subject', type: 'text', maxlength: '200', 'data-testid': 'support-subject', required: true });
  const message = h('textarea', { id: 'sup-message', rows: '6', maxlength: '5000', 'data-testid': 'support-message', required: true });
  const select = h('select', { id: 'sup-invoice', 'data-testid': 'support-invoice' },
    h('option', { value: '' }, 'Keine bestimmte Rechnung'),
    invoices.items.map((i) => h('option', { value: i.id, selected: i.id === pre },
      `${i.number} · ${fmtDate(i.issue_date)} · ${money(i.gross_cents, i.currency)}`)));
  const submit = h('button', { type: 'submit', class: 'btn', 'data-testid': 'support-submit' }, 'Anfrage senden');
  let sending = false;

  const form = h('form', { novalidate: true },
    field('sup-subject', 'Betreff', subject),
    field('sup-message', 'Nachricht', message),
    field('sup-invoice', 'Rechnung (optional)', select),
    err,
    h('div', { class: 'actions' }, submit));

  const formCard = h('section', { class: 'card', 'aria-labelledby': 'form-h' },
    h('h2', { id: 'form-h' }, 'Schreib uns'), form);

  form.addEventListener('input', () => { if (!sending) formError(err, ''); });
  form.addEventListener('submit', async (ev) => {
    ev.preventDefault();
    if (sending) return;
    const body = { subject: subject.value.trim(), message: message.value.trim() };
    if (!body.subject || !body.message) {
      formError(err, 'Bitte gib einen Betreff und eine Nachricht ein.');
      (body.subject ? message : subject).focus();
      return;
    }
    if (select.value) body.invoice_id = select.value;
    sending = true;
    formError(err, '');
    const restore = busy(submit, 'Wird gesendet …');
    try {
      await api('POST', '/support/requests', body);
      if (!ctx.alive()) return;
      const again = h('button', { type: 'button', class: 'btn btn-secondary' }, 'Weitere Anfrage senden');
      const done = h('section', { class: 'card done', 'data-testid': 'support-done', tabindex: '-1', role: 'status' },
        h('h2', null, 'Danke! Wir melden uns bald.'),
        h('p', null, 'Deine Anfrage ist bei unserem Support-Team angekommen. Die Antwort bekommst du per E-Mail.'),
        h('div', { class: 'actions' }, again));
      again.addEventListener('click', () => render());
      formCard.replaceWith(done);
      done.focus();
    } catch (e) {
      if (e.silent) return;
      sending = false;
      restore();
      formError(err, e.message);
    }
  });

  show(ctx, 'Support',
    h('h1', { tabindex: '-1', class: 'page-title' }, 'Support'),
    h('p', { class: 'lead' }, 'Du hast Fragen zu deinen Rechnungen oder zum Portal? Unser Support-Team hilft dir gern.'),
    h('div', { class: 'grid2 support' },
      formCard,
      h('section', { class: 'card', 'aria-labelledby': 'contact-h' },
        h('h2', { id: 'contact-h' }, 'Kontakt'),
        supportContact(config && config.support) || h('p', null, '—'))));
}

// ---------------------------------------------------------------------------------------------

function viewNotFound(ctx) {
  show(ctx, 'Seite nicht gefunden',
    h('section', { class: 'card narrow' },
      heading('Seite nicht gefunden', 'Diese Adresse gibt es im Kundenportal nicht.'),
      h('p', null, h('a', { class: 'btn', href: '#/' }, 'Zur Startseite'))));
}

async function logout(ev) {
  const btn = ev.currentTarget;
  if (btn.disabled) return;
  const restore = busy(btn, 'Abmelden …');
  try {
    if (getRT() && (!accessToken || Date.now() > accessExp - 30000)) await refreshTokens();
    if (accessToken) await request('POST', '/auth/logout', undefined, accessToken);
  } catch {
    // Signing out locally must work even when the server call fails.
  }
  clearTokens();
  returnTo = null;
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
    payRunning.clear();
    render();
  });
  const q = new URLSearchParams(location.search);
  if (q.has('paypal')) {
    const action = q.get('paypal');
    const paymentId = q.get('payment');
    if ((action === 'return' || action === 'cancel') && paymentId) pendingPaypal = { action, paymentId };
    // PayPal's token and PayerID do not stay in the address bar or the history.
    history.replaceState(null, '', `${location.pathname}${location.hash}`);
  }
  if (getRT()) refreshTokens().catch(() => {}); // refresh first; signed-in calls await it
  render();
}

boot();
