// API client and session. Access and id token only in memory; the refresh token in
// sessionStorage (tab-scoped, survives a reload and a round trip to a payment provider, gone
// with the tab). Never localStorage.

export const NET_MSG = 'Keine Verbindung. Bitte versuche es erneut.';
export const FALLBACK_MSG = 'Etwas ist schiefgelaufen. Bitte versuche es später erneut.';
const RT_KEY = 'sides.portal.refresh';

let accessToken = null;
let idToken = null; // kept for later use (e.g. display claims); never persisted
let accessExp = 0;
let refreshing = null;
let onExpired = () => {};

// Shared between screens: where to go after signing in, the e-mail to prefill.
export const session = { returnTo: null, lastEmail: '' };

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export function getRT() {
  try { return sessionStorage.getItem(RT_KEY); } catch { return null; }
}

function setTokens(d) {
  accessToken = d.access_token || null;
  idToken = d.id_token || idToken;
  accessExp = Date.now() + (Number(d.expires_in) || 3600) * 1000;
  try {
    // Only to prefill the sign-in form later; the claim is never trusted for anything else.
    const claims = JSON.parse(atob(idToken.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')));
    if (typeof claims.email === 'string') session.lastEmail = claims.email;
  } catch { /* not a JWT (or no id token): nothing to prefill */ }
  if (d.refresh_token) {
    try { sessionStorage.setItem(RT_KEY, d.refresh_token); } catch { /* private mode */ }
  }
}

export function clearTokens() {
  accessToken = null;
  idToken = null;
  accessExp = 0;
  try { sessionStorage.removeItem(RT_KEY); } catch { /* ignore */ }
}

export const signedIn = () => Boolean(accessToken || getRT());

// What happens when the session cannot be renewed (the router sends the owner to sign-in).
export function setOnExpired(fn) {
  onExpired = fn;
}

export async function request(method, path, body, token) {
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

export function refreshTokens() {
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
  onExpired();
  const e = new ApiError(401, 'session_expired', '');
  e.silent = true;
  throw e;
}

// Signed-in call: refresh first when the access token is missing or about to expire; on a 401
// refresh once and retry; when that fails, back to sign-in.
export async function api(method, path, body) {
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

export const publicApi = (method, path, body) => request(method, path, body);

// With the one-time code on, the password gives no tokens yet: {mfaSession} for the next step.
export async function signIn(email, password) {
  const d = await publicApi('POST', '/auth/login', { email, password });
  session.lastEmail = email;
  if (d && d.mfa_required) return { mfaSession: d.session };
  setTokens(d);
  return {};
}

export async function signInMfa(mfaSession, code) {
  setTokens(await publicApi('POST', '/auth/login/mfa', { session: mfaSession, code }));
}

// Signing out locally must work even when the server call fails.
export async function signOut() {
  try {
    if (getRT() && (!accessToken || Date.now() > accessExp - 30000)) await refreshTokens();
    if (accessToken) await request('POST', '/auth/logout', undefined, accessToken);
  } catch { /* signed out locally below */ }
  clearTokens();
  session.returnTo = null;
}

let configP = null;
export function getConfig() {
  if (!configP) configP = publicApi('GET', '/config').catch((e) => { configP = null; throw e; });
  return configP;
}
