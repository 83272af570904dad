/**
 * The browser lab. One module with two roles: in the page it wires the buttons and shows the
 * results; loaded as a module Web Worker (the page starts it from this same file) it runs the
 * emulator, so the page stays responsive while the host image boots five times over.
 *
 * Everything comes from the compiled core in ../dist/ (plain ES modules, no Node API) and the
 * images under ../build/, so the repository root must be served (web/serve.mjs does that).
 */

const IN_WORKER = typeof document === 'undefined';

const HOST_IMAGE = new URL('../build/host/host.elf', import.meta.url);
const KERNEL_IMAGE = new URL('../build/guest/paging.elf', import.meta.url);
const DESIGNS = ['msr', 'vmsave-v1', 'vmload', 'vmload-notss', 'wrgsbase'];
const KERNEL_BUDGET = 50_000_000;

// ---- worker side ----

async function fetchImage(url, howToBuild) {
  const r = await fetch(url, { cache: 'no-store' });
  if (!r.ok) throw new Error(`${url.pathname}: HTTP ${r.status}: build it first with ${howToBuild}`);
  return new Uint8Array(await r.arrayBuffer());
}

async function runBenchJob(iterations) {
  const [{ getProfile }, { calibrate, FIT_TARGET }, { runBench, formatBench }] = await Promise.all([
    import('../dist/cost/profiles.js'),
    import('../dist/lab/calibrate.js'),
    import('../dist/lab/bench.js'),
  ]);
  const image = await fetchImage(HOST_IMAGE, 'bash guest/host/build.sh');
  postMessage({ kind: 'status', text: 'calibrating zen3 on the merged design...' });
  const t0 = performance.now();
  const cal = calibrate(image, getProfile('zen3'));
  const t = FIT_TARGET;
  postMessage({
    kind: 'calibration',
    text: `zen3: calibrated on the merged design's phases (${t.entry_to_vmrun} / ${t.vmrun_to_post} / ${t.post_to_exit}): ` +
      `base ${cal.base} cycles per instruction, world switch ${cal.worldSwitch} cycles`,
  });
  const spec = { profile: cal.profile, workload: 'hlt', designs: DESIGNS, iterations, fsgsbase: true };
  const results = runBench(image, spec, (done, total, what) => {
    if (done < total) postMessage({ kind: 'status', text: `bench: design ${done + 1} of ${total} (${what})...` });
  });
  const ms = Math.round(performance.now() - t0);
  const ok = results.every((r) => r.ok);
  const failed = results.filter((r) => !r.ok).map((r) => `${r.design}: ${r.status}`).join('; ');
  postMessage({ kind: 'bench', table: formatBench(spec, results), ok, text: ok ? `done in ${ms} ms` : `finished in ${ms} ms with failures: ${failed}` });
}

async function bootKernelJob() {
  const [{ Machine }, { Stop }] = await Promise.all([
    import('../dist/machine/machine.js'),
    import('../dist/cpu/state.js'),
  ]);
  const image = await fetchImage(KERNEL_IMAGE, 'bash guest/build.sh');
  let text = '';
  const m = new Machine({ onUartByte: (b) => { text += String.fromCharCode(b); } });
  m.boot(image, { name: 'paging.elf' });
  const t0 = performance.now();
  const r = m.run(KERNEL_BUDGET);
  const ms = Math.round(performance.now() - t0);
  // the test kernels exit through the debug-exit port; status 3 means every check passed
  const how = r.reason === Stop.Exit ? `exit ${r.exitStatus}` : `${Stop[r.reason]} at RIP 0x${r.rip.toString(16)}`;
  postMessage({ kind: 'uart', text, ok: r.reason === Stop.Exit && r.exitStatus === 3, status: `paging.elf: ${how} after ${r.icount} instructions, ${ms} ms` });
}

function workerMain() {
  self.onmessage = async (ev) => {
    try {
      if (ev.data.kind === 'bench') await runBenchJob(ev.data.iterations);
      else if (ev.data.kind === 'boot') await bootKernelJob();
    } catch (e) {
      postMessage({ kind: 'error', text: String(e && e.stack ? e.stack : e) });
    }
  };
}

// ---- page side ----

function pageMain() {
  const $ = (id) => document.getElementById(id);
  const benchBtn = $('run-bench');
  const bootBtn = $('boot-kernel');
  const status = $('status');
  const setBusy = (busy) => { benchBtn.disabled = busy; bootBtn.disabled = busy; };
  const worker = new Worker(import.meta.url, { type: 'module' });
  let job = '';

  worker.onmessage = (ev) => {
    const d = ev.data;
    switch (d.kind) {
      case 'status':
        status.textContent = d.text;
        break;
      case 'calibration':
        $('calibration').textContent = d.text;
        break;
      case 'bench':
        $('bench-table').textContent = d.table;
        $('bench-table').dataset.state = d.ok ? 'done' : 'failed';
        status.textContent = d.text;
        setBusy(false);
        break;
      case 'uart':
        $('uart').textContent = d.text;
        $('uart').dataset.state = d.ok ? 'done' : 'failed';
        status.textContent = d.status;
        setBusy(false);
        break;
      case 'error':
        status.textContent = `error: ${d.text}`;
        (job === 'bench' ? $('bench-table') : $('uart')).dataset.state = 'error';
        setBusy(false);
        break;
    }
  };
  worker.onerror = (ev) => {
    status.textContent = `worker error: ${ev.message || 'could not load the worker'}`;
    setBusy(false);
  };

  benchBtn.addEventListener('click', () => {
    const n = Number($('iterations').value);
    if (!Number.isInteger(n) || n < 1 || n > 50000) { status.textContent = 'iterations: an integer in 1..50000'; return; }
    job = 'bench';
    setBusy(true);
    $('calibration').textContent = '';
    $('bench-table').textContent = '';
    $('bench-table').dataset.state = 'running';
    status.textContent = 'loading host.elf...';
    worker.postMessage({ kind: 'bench', iterations: n });
  });
  bootBtn.addEventListener('click', () => {
    job = 'boot';
    setBusy(true);
    $('uart').textContent = '';
    $('uart').dataset.state = 'running';
    status.textContent = 'booting paging.elf...';
    worker.postMessage({ kind: 'boot' });
  });
  setBusy(false);
  status.textContent = 'ready';
}

if (IN_WORKER) workerMain();
else pageMain();
