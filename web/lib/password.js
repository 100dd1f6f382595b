// New password + repeat, with the rules (mirroring the Cognito policy) ticked live and a line
// under the form that says what is still missing while the button is disabled.

import { h } from './dom.js';
import { field } from './ui.js';

const RULES = [
  ['length', 'Mindestens 12 Zeichen', 'mindestens 12 Zeichen', (p) => [...p].length >= 12],
  ['lower', 'Ein Kleinbuchstabe (a–z)', 'ein Kleinbuchstabe', (p) => /[a-z]/.test(p)],
  ['upper', 'Ein Großbuchstabe (A–Z)', 'ein Großbuchstabe', (p) => /[A-Z]/.test(p)],
  ['digit', 'Eine Ziffer (0–9)', 'eine Ziffer', (p) => /[0-9]/.test(p)],
];

function missingText(missing) {
  if (!missing.length) return '';
  const list = missing.length === 1 ? missing[0] : `${missing.slice(0, -1).join(', ')} und ${missing[missing.length - 1]}`;
  return `Es fehlt noch: ${list}.`;
}

// extra(): further missing items of the surrounding form (e.g. the code), as short phrases.
export function passwordPair(prefix, pwTestid, repeatTestid, onChange, extra = () => []) {
  const rulesId = `${prefix}-rules`;
  const missingId = `${prefix}-missing`;
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
  const missingLine = h('p', { class: 'hint missing', id: missingId, 'data-testid': 'pw-missing' });

  const state = { ok: false, value: '', missingId };
  const tick = (li, ok) => {
    li.classList.toggle('ok', ok);
    li.lastChild.textContent = ok ? ' – erfüllt' : ' – noch nicht erfüllt';
  };
  const update = () => {
    const p = pw.value;
    const missing = [...extra()];
    RULES.forEach(([, , short, test], i) => {
      const ok = test(p);
      if (!ok) missing.push(short);
      tick(items[i], ok);
    });
    const match = p.length > 0 && p === rep.value;
    tick(matchItem, match);
    if (!match) missing.push(p ? 'die gleiche Eingabe im Feld „Passwort wiederholen“' : 'die Wiederholung des Passworts');
    state.ok = missing.length === 0;
    state.value = p;
    missingLine.textContent = missingText(missing);
    missingLine.hidden = state.ok;
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
  // Filled in at once, so the form says from the start what the button is waiting for.
  queueMicrotask(update);
  return { node, state, missingLine, update, focus: () => pw.focus() };
}
