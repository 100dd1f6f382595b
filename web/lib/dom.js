// Tiny DOM helper: builds elements without innerHTML, so server data is never parsed as HTML.

export function h(tag, props, ...kids) {
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

export const $main = () => document.getElementById('main');
export const spinner = () => h('span', { class: 'spinner', 'aria-hidden': 'true' });
export const sleep = (ms) => new Promise((r) => { setTimeout(r, ms); });
export const enc = encodeURIComponent;
