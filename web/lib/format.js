// Formatting for display only: amounts stay integer cents everywhere else.

const moneyFmt = new Map();
export function money(cents, currency = 'EUR') {
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
export const numFmt = new Intl.NumberFormat('de-DE', { maximumFractionDigits: 3 });

export function fmtDate(s) {
  if (!s) return '—';
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(s);
  if (m) return `${m[3]}.${m[2]}.${m[1]}`;
  const d = new Date(s);
  return Number.isNaN(d.getTime()) ? String(s) : dtDate.format(d);
}

export function fmtDateTime(s) {
  const d = new Date(s);
  return s && !Number.isNaN(d.getTime()) ? dtDateTime.format(d) : '—';
}

export function fmtPeriod(p) {
  const m = /^(\d{4})-(\d{2})$/.exec(p || '');
  return m ? dtMonth.format(Date.UTC(+m[1], +m[2] - 1, 1)) : '—';
}

export function fmtCountry(code) {
  try {
    return new Intl.DisplayNames(['de'], { type: 'region' }).of(code) || code;
  } catch {
    return code || '';
  }
}

// German singular/plural: plural(1, 'Rechnung', 'Rechnungen') → "1 Rechnung".
export function plural(n, one, many) {
  return `${n} ${Number(n) === 1 ? one : many}`;
}

