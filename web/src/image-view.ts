/**
 * The "run an image" view: a kernel from a file picker (multiboot, ELF, Linux bzImage, with an
 * optional initrd) booted on a Machine in a Worker, its UART in an xterm.js terminal; what is
 * typed there goes to the UART. A second button boots the paging test kernel from the server.
 */

import { Terminal } from '@xterm/xterm';
import '@xterm/xterm/css/xterm.css';
import { $, fileBytes, intIn, newWorker } from './common.js';

export function initImage(): void {
  const term = new Terminal({ convertEol: true, rows: 26, cols: 100, fontSize: 13, scrollback: 5000, screenReaderMode: false });
  term.open($('terminal'));
  const box = $('terminal');
  const text = $('uart-text');
  const status = $('image-status');
  const bar = $<HTMLProgressElement>('image-progress');
  const bootBtn = $<HTMLButtonElement>('image-boot');
  const pagingBtn = $<HTMLButtonElement>('image-paging');
  const stopBtn = $<HTMLButtonElement>('image-stop');
  let worker: Worker | null = null;
  const decoder = new TextDecoder('latin1');

  const stop = (state: string, why: string) => {
    worker?.terminate();
    worker = null;
    bootBtn.disabled = false;
    pagingBtn.disabled = false;
    stopBtn.disabled = true;
    box.dataset.state = state;
    status.textContent = why;
  };

  term.onData((d) => worker?.postMessage({ kind: 'uart-in', text: d }));

  const boot = (image: Uint8Array, name: string, initrd: Uint8Array | undefined, cmdline: string, budget: number) => {
    worker?.terminate();
    term.reset();
    text.textContent = '';
    bootBtn.disabled = true;
    pagingBtn.disabled = true;
    stopBtn.disabled = false;
    box.dataset.state = 'running';
    bar.value = 0;
    status.textContent = `booting ${name}...`;
    const w = newWorker();
    worker = w;
    w.onerror = (e) => stop('error', `worker error: ${e.message}`);
    w.onmessage = (ev) => {
      const d = ev.data;
      if (d.kind === 'uart') {
        const s = decoder.decode(d.bytes as Uint8Array);
        term.write(d.bytes as Uint8Array);
        text.textContent += s;
      } else if (d.kind === 'boot-progress') {
        bar.max = d.budget;
        bar.value = d.icount;
        status.textContent = `${name}: ${(d.icount / 1e6).toFixed(0)} M instructions`;
      } else if (d.kind === 'boot-done') {
        bar.value = bar.max;
        stop(d.exit !== null ? `exit-${d.exit}` : 'stopped', `${name}: ${d.how} after ${d.icount} instructions, ${d.ms} ms`);
      } else if (d.kind === 'error') {
        stop('error', `error: ${d.text}`);
      }
    };
    w.postMessage({ kind: 'boot', image, name, cmdline, initrd, budget }, [image.buffer, ...(initrd !== undefined ? [initrd.buffer] : [])]);
    term.focus();
  };

  $('image-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    box.dataset.state = 'running';
    try {
      const f = $<HTMLInputElement>('image-file').files?.[0];
      if (f === undefined) throw new Error('choose a kernel image');
      const image = new Uint8Array(await f.arrayBuffer());
      const initrd = await fileBytes($('image-initrd'));
      boot(image, f.name, initrd, $<HTMLInputElement>('image-cmdline').value, intIn($('image-budget'), 'budget', 1000, Number.MAX_SAFE_INTEGER));
    } catch (e) {
      status.textContent = (e as Error).message;
      box.dataset.state = 'invalid';
    }
  });
  pagingBtn.addEventListener('click', async () => {
    box.dataset.state = 'running';
    try {
      const r = await fetch('/images/guest/paging.elf', { cache: 'no-store' });
      if (!r.ok) throw new Error(`/images/guest/paging.elf: HTTP ${r.status}: build the test kernels first (npm run guest)`);
      boot(new Uint8Array(await r.arrayBuffer()), 'paging.elf', undefined, '', intIn($('image-budget'), 'budget', 1000, Number.MAX_SAFE_INTEGER));
    } catch (e) {
      status.textContent = (e as Error).message;
      box.dataset.state = 'error';
    }
  });
  stopBtn.addEventListener('click', () => stop('stopped', 'stopped'));
}
