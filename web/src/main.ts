/**
 * The browser lab's page: five views behind a tab list (arrow keys move between tabs, as the
 * WAI-ARIA tabs pattern has it). Each view runs its emulator work in Web Workers.
 */

import { initBench } from './bench-view.js';
import { initVerify } from './verify-view.js';
import { initStepper } from './stepper-view.js';
import { initImage } from './image-view.js';
import { initLinux } from './linux-view.js';

function initTabs(): void {
  const tabs = [...document.querySelectorAll<HTMLButtonElement>('[role=tab]')];
  const select = (t: HTMLButtonElement, focus: boolean) => {
    for (const x of tabs) {
      const on = x === t;
      x.setAttribute('aria-selected', String(on));
      x.tabIndex = on ? 0 : -1;
      document.getElementById(x.getAttribute('aria-controls')!)!.hidden = !on;
    }
    if (focus) t.focus();
    t.dispatchEvent(new CustomEvent('tab-shown'));
    history.replaceState(null, '', `#${t.id.slice(4)}`);
  };
  for (const t of tabs) {
    t.addEventListener('click', () => select(t, false));
    t.addEventListener('keydown', (ev) => {
      const k = tabs.indexOf(t);
      const to = ev.key === 'ArrowRight' ? (k + 1) % tabs.length : ev.key === 'ArrowLeft' ? (k + tabs.length - 1) % tabs.length
        : ev.key === 'Home' ? 0 : ev.key === 'End' ? tabs.length - 1 : -1;
      if (to >= 0) { ev.preventDefault(); select(tabs[to], true); }
    });
  }
  const want = tabs.find((t) => `#${t.id.slice(4)}` === location.hash);
  if (want !== undefined) select(want, false);
}

initTabs();
initBench();
initVerify();
initStepper();
initImage();
initLinux();
document.body.dataset.ready = 'true';
