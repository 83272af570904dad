/** Small helpers the views share: elements, a worker per job with cancel, downloads. */

export function $<T extends HTMLElement = HTMLElement>(id: string): T {
  const e = document.getElementById(id);
  if (e === null) throw new Error(`#${id} is missing from the page`);
  return e as T;
}

/** an element with attributes and children (strings become text) */
export function h(tag: string, attrs: Record<string, string | number | boolean | undefined> = {}, ...children: (Node | string)[]): HTMLElement {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (k === 'class') e.className = String(v);
    else e.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) e.append(c);
  return e;
}

/** checkboxes named by `values` into a container; returns a reader of the checked ones */
export function checkboxes(container: HTMLElement, name: string, values: readonly string[], checked: (v: string) => boolean): () => string[] {
  container.replaceChildren(...values.map((v) => {
    const box = h('input', { type: 'checkbox', name, value: v, id: `${name}-${v}`, checked: checked(v) }) as HTMLInputElement;
    return h('label', { for: `${name}-${v}` }, box, ` ${v}`);
  }));
  return () => [...container.querySelectorAll<HTMLInputElement>('input[type=checkbox]')].filter((b) => b.checked).map((b) => b.value);
}

export function options(select: HTMLSelectElement, values: readonly string[], selected?: string): void {
  select.replaceChildren(...values.map((v) => h('option', { value: v, selected: v === selected }, v)));
}

/** a new lab worker (the emulator never runs on the page's thread) */
export function newWorker(): Worker {
  return new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
}

/** offer text as a file */
export function download(name: string, text: string, type: string): void {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = h('a', { href: url, download: name }) as HTMLAnchorElement;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

export async function fileBytes(input: HTMLInputElement): Promise<Uint8Array | undefined> {
  const f = input.files?.[0];
  return f === undefined ? undefined : new Uint8Array(await f.arrayBuffer());
}

export function intIn(input: HTMLInputElement, what: string, lo: number, hi: number): number {
  const v = Number(input.value);
  if (input.value.trim() === '' || !Number.isSafeInteger(v) || v < lo || v > hi) throw new Error(`${what}: '${input.value}' is not an integer in ${lo}..${hi}`);
  return v;
}

export function table(head: string[], rows: (string | Node)[][], leftCols = 1, caption?: string): HTMLTableElement {
  const t = h('table') as HTMLTableElement;
  if (caption !== undefined) t.append(h('caption', {}, caption));
  t.append(h('thead', {}, h('tr', {}, ...head.map((x, k) => h('th', { scope: 'col', class: k < leftCols ? 'l' : undefined }, x)))));
  t.append(h('tbody', {}, ...rows.map((r) => h('tr', {}, ...r.map((x, k) => h(k === 0 ? 'th' : 'td', { scope: k === 0 ? 'row' : undefined, class: k < leftCols ? 'l' : undefined }, x))))));
  return t;
}

/** `ms` as seconds with one decimal */
export function secs(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}
