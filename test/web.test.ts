// The browser lab (web/) in Debian's chromium through playwright-core: vite bundles the page into
// build/web/, web/serve.mjs serves it with the images, and every view is driven as a user would:
// the bench with its options (plots, table, downloads, Cancel), verify on Web Workers (table,
// verdicts, a caught mutant's report), the world-switch stepper (two designs, events placed by a
// click and by the keyboard), and an image booted from the file picker with its UART in xterm.js.
// A screenshot per view goes to build/web-test/ (git-ignored), with timings.json: the bench and
// verify in the page against the same jobs in Node. No console errors are allowed anywhere.
//
// Chromium is optional locally (the tests are skipped, with the reason printed) and required
// in CI (CI=true; .ci/run installs it).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';

const ROOT = process.cwd();
const CI = process.env.CI === 'true';
const CHROMIUM = '/usr/bin/chromium';
const HOST_IMAGE = join(ROOT, 'build', 'host', 'host.elf');
const KERNEL_IMAGE = join(ROOT, 'build', 'guest', 'paging.elf');
const ART = join(ROOT, 'build', 'web-test');
const BIN = join(ROOT, 'bin', 'worldswitch.js');
// Debian's kernel and a one-file initramfs, as npm run linux fetches them (LINUX_CACHE names another copy)
const LINUX = [join(ROOT, '.cache', 'linux'), process.env.LINUX_CACHE ?? ''].find((d) => d !== '' && existsSync(join(d, 'vmlinuz')) && existsSync(join(d, 'init.cpio')));
const DESIGNS = ['msr', 'vmsave-v1', 'vmload', 'vmload-notss', 'wrgsbase'];
// the real Linux host's files (npm run linux): the kernel, System.map, the initramfs and two designs' modules
const LINUX_HOST_DESIGNS = ['vmload', 'vmload-notss'];
const LINUX_HOST_ITERATIONS = 8;
const LINUX_HOST_FILES = [
  ...['vmlinuz', 'System.map', 'kvmhost.cpio'].map((f) => join(ROOT, '.cache', 'linux', f)),
  ...LINUX_HOST_DESIGNS.flatMap((d) => ['kvm.ko', 'kvm-amd.ko'].map((f) => join(ROOT, '.cache', 'kvm', d, f))),
];
const linuxHostMissing = LINUX_HOST_FILES.find((f) => !existsSync(f));
if (linuxHostMissing !== undefined) console.warn(`web.test: the real-Linux view is skipped: ${linuxHostMissing} is missing (run npm run linux)`);

const missing = existsSync(CHROMIUM) ? '' : `${CHROMIUM} not found (apt-get install chromium)`;
if (missing !== '' && !CI) console.warn(`web.test: skipping: ${missing}`);

let server: ChildProcess | undefined;
const extraServers: ChildProcess[] = [];
let browser: Browser | undefined;
let page: Page | undefined;
let pageErrors: string[] = [];
let downloads = '';
const timings: Record<string, unknown> = {};

/** start web/serve.mjs on a port the OS picks and read the lab's URL from its first line */
function startServer(env: Record<string, string> = {}): Promise<string> {
  const child = spawn(process.execPath, [join(ROOT, 'web', 'serve.mjs'), '0'], { stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, ...env } });
  if (server === undefined) server = child; else extraServers.push(child);
  return new Promise((ok, fail) => {
    let out = '';
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      const nl = out.indexOf('\n');
      if (nl >= 0) ok(out.slice(0, nl).trim());
    });
    child.once('exit', (code) => fail(new Error(`serve.mjs exited (${code}) before printing its URL`)));
    child.once('error', fail);
  });
}

/** wait until a result container's data-state leaves running/idle; returns it */
async function settled(p: Page, sel: string, timeout: number): Promise<string> {
  await p.waitForFunction((s) => { const x = document.querySelector<HTMLElement>(s)?.dataset.state; return x !== undefined && x !== 'running' && x !== 'idle'; }, sel, { timeout });
  return (await p.getAttribute(sel, 'data-state')) ?? '';
}

/** click a download button and read the file it offers */
async function downloaded(p: Page, sel: string): Promise<string> {
  const [d] = await Promise.all([p.waitForEvent('download'), p.click(sel)]);
  const path = join(downloads, d.suggestedFilename());
  await d.saveAs(path);
  return readFileSync(path, 'utf8');
}

/**
 * a screenshot of the whole page (an artefact, not a check); Playwright's default 30 s was once
 * too short for a full-page shot after the Linux bench on a busy machine
 */
async function shot(p: Page, name: string): Promise<void> {
  await p.screenshot({ path: join(ART, name), fullPage: true, timeout: 120_000 });
}

async function check(p: Page, sel: string, on: boolean): Promise<void> {
  if (on) await p.check(sel); else await p.uncheck(sel);
}

describe.skipIf(missing !== '' && !CI)(missing ? `browser lab (skipped: ${missing})` : 'browser lab', () => {
  let url = '';

  beforeAll(async () => {
    if (missing !== '') return;
    // the page bundles the sources; the CLI (compared with) runs from dist/; built only when missing
    if (!existsSync(join(ROOT, 'dist', 'lab', 'benchjob.js'))) execFileSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { stdio: 'pipe' });
    if (!existsSync(HOST_IMAGE)) execFileSync('bash', [join(ROOT, 'guest', 'host', 'build.sh')], { stdio: 'pipe' });
    if (!existsSync(KERNEL_IMAGE)) execFileSync('bash', [join(ROOT, 'guest', 'build.sh')], { stdio: 'pipe' });
    // as npm run web:build: the page's own sources type-checked (strict, DOM), then bundled
    execFileSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', join(ROOT, 'web', 'tsconfig.json')], { stdio: 'pipe' });
    execFileSync(process.execPath, [join(ROOT, 'node_modules', 'vite', 'bin', 'vite.js'), 'build', '--config', join(ROOT, 'web', 'vite.config.mjs')], { stdio: 'pipe' });
    rmSync(ART, { recursive: true, force: true });
    mkdirSync(ART, { recursive: true });
    downloads = mkdtempSync(join(tmpdir(), 'worldswitch-downloads-'));
    url = await startServer();
    const { chromium } = await import('playwright-core');
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    page = await browser.newPage({ viewport: { width: 1600, height: 1000 }, acceptDownloads: true });
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    page.on('console', (m) => { if (m.type() === 'error') pageErrors.push(`${m.text()} (${m.location().url})`); });
    page.on('worker', (w) => w.on('console', (m) => { if (m.type() === 'error') pageErrors.push(`worker: ${m.text()}`); }));
    await page.goto(url);
    await page.waitForFunction(() => document.body.dataset.ready === 'true');
  }, 180_000);

  afterAll(async () => {
    if (Object.keys(timings).length > 0) writeFileSync(join(ART, 'timings.json'), JSON.stringify(timings, null, 2) + '\n');
    await browser?.close();
    server?.kill();
    for (const x of extraServers) x.kill();
    if (downloads !== '') rmSync(downloads, { recursive: true, force: true });
  });

  it('has chromium (required in CI)', () => {
    expect(missing, 'CI must install chromium (.ci/run)').toBe('');
  });

  it('serves the page and the images only, with their MIME types', async () => {
    const base = new URL(url);
    const get = (p: string) => fetch(new URL(p, base));
    expect((await get('/')).headers.get('content-type')).toMatch(/^text\/html/);
    expect((await get('/images/host.elf')).headers.get('content-type')).toBe('application/octet-stream');
    expect((await get('/images/guest/paging.elf')).status).toBe(200);
    expect((await get('/assets/')).status).toBe(404);
    expect((await get('/images/guest/')).status).toBe(404);
    expect((await get('/%2e%2e/package.json')).status).toBe(404);
    expect((await get('/images/%2e%2e/%2e%2e/package.json')).status).toBe(404);
    expect((await get('/no-such-file.js')).status).toBe(404);
    expect((await fetch(new URL('/', base), { method: 'POST' })).status).toBe(405);
  });

  it('labels every control, and the keyboard reaches them in order', async () => {
    const p = page!;
    pageErrors = [];
    const unlabelled = await p.evaluate(() => [...document.querySelectorAll<HTMLElement>('input, select, button, textarea')]
      .filter((e) => !e.closest('.xterm'))
      .filter((e) => {
        const labels = (e as HTMLInputElement).labels;
        const text = e.tagName === 'BUTTON' ? (e.textContent ?? '').trim() : '';
        return (labels === null || labels === undefined || labels.length === 0) && !e.getAttribute('aria-label') && text === '';
      }).map((e) => e.outerHTML.slice(0, 80)));
    expect(unlabelled).toEqual([]);
    // one tab stop for the tab list, then the bench form in document order
    await p.focus('#tab-bench');
    const order: string[] = [];
    for (let k = 0; k < 8; k++) {
      await p.keyboard.press('Tab');
      order.push(await p.evaluate(() => document.activeElement?.getAttribute('name') || document.activeElement?.id || document.activeElement?.tagName || ''));
    }
    expect(order.slice(0, 4)).toEqual(['bench-profile', 'bench-profile', 'bench-profile', 'bench-profile-file']);
    expect(order.slice(4, 8)).toEqual(['bench-design', 'bench-design', 'bench-design', 'bench-design']);
    // arrow keys move between tabs and show their panels
    await p.focus('#tab-bench');
    await p.keyboard.press('ArrowRight');
    expect(await p.evaluate(() => document.activeElement?.id)).toBe('tab-verify');
    expect(await p.isVisible('#view-verify')).toBe(true);
    expect(await p.isVisible('#view-bench')).toBe(false);
    await p.keyboard.press('ArrowLeft');
    expect(await p.getAttribute('#tab-bench', 'aria-selected')).toBe('true');
    expect(pageErrors).toEqual([]);
  });

  it('bench: every design, the plots, the table, JSON and SVG downloads', async () => {
    const p = page!;
    pageErrors = [];
    await p.click('#tab-bench');
    await p.fill('#bench-iterations', '200');
    await p.click('#bench-run');
    expect(await p.isDisabled('#bench-run')).toBe(true);
    const state = await settled(p, '#bench-out', 120_000);
    const status = await p.textContent('#bench-status') ?? '';
    expect(state, `${status}\n${pageErrors.join('\n')}`).toBe('done');
    timings.benchPageMs = Number(await p.getAttribute('#bench-out', 'data-ms'));
    timings.benchPageEmulationMs = Number(/emulation ([\d.]+) s/.exec(status)?.[1]) * 1000;
    // the plots: one SVG (phases by design over the break-even plot), bars and line points in it
    expect(await p.locator('#bench-plots-out svg').count()).toBe(1);
    const marks = await p.evaluate(() => ({
      bars: document.querySelectorAll('#bench-plots-out svg .mark-rect.role-mark path').length,
      points: document.querySelectorAll('#bench-plots-out svg .mark-symbol.role-mark path').length,
      lines: document.querySelectorAll('#bench-plots-out svg .mark-line.role-mark path').length,
      titles: [...document.querySelectorAll('#bench-plots-out svg .role-title-text text')].map((t) => t.textContent),
    }));
    expect(marks.bars).toBe(DESIGNS.length * 3);
    expect(marks.points).toBe(DESIGNS.length * 5);
    expect(marks.lines).toBe(DESIGNS.length);
    expect(marks.titles.join('|')).toMatch(/Cycles per KVM_RUN by phase \(zen3, hlt, median\).*Cycles per exit vs exits handled in the kernel/);
    const head = await p.$$eval('#bench-table thead th', (x) => x.map((e) => e.textContent));
    expect(head.slice(1)).toEqual(DESIGNS);
    const body = await p.textContent('#bench-table tbody') ?? '';
    for (const row of ['ioctl entry -> pre-VMRUN', 'pre-VMRUN -> post-VMRUN (restore)', 'difference from vmload', 'per KVM_RUN: instructions', 'exit hlt']) expect(body).toContain(row);
    expect(await p.textContent('#bench-text')).toMatch(/zen3: calibrated .* base [\d.]+ cycles per instruction, world switch \d+ cycles/);
    const json = JSON.parse(await downloaded(p, '#bench-json'));
    expect(json.designs.map((d: { design: string }) => d.design)).toEqual(DESIGNS);
    expect(json.designs.every((d: { ok: boolean }) => d.ok)).toBe(true);
    expect(json.breakEven).toHaveLength(DESIGNS.length * 5);
    const svg = await downloaded(p, '#bench-svg');
    expect(svg).toMatch(/^<svg/);
    // the same job from the CLI in Node: the same numbers (deterministic), and its time
    const t0 = performance.now();
    const cli = spawnSync(process.execPath, [BIN, 'bench', '--iterations', '200', '--json', join(downloads, 'cli.json'), '--svg', join(downloads, 'cli.svg')], { encoding: 'utf8', timeout: 300_000 });
    timings.benchNodeCliMs = Math.round(performance.now() - t0);
    expect(cli.status, cli.stderr).toBe(0);
    expect(JSON.parse(readFileSync(join(downloads, 'cli.json'), 'utf8'))).toEqual(json);
    await shot(p, 'bench.png');
    expect(pageErrors).toEqual([]);
  }, 240_000);

  it('bench: mix with in-kernel %, no FSGSBASE, a measured profile, a sweep with draws and its plot', async () => {
    const p = page!;
    pageErrors = [];
    await p.selectOption('#bench-workload', 'mix');
    expect(await p.isEnabled('#bench-in-kernel')).toBe(true);
    await p.fill('#bench-in-kernel', '50');
    await check(p, '#bench-fsgsbase', false);
    for (const d of DESIGNS) await check(p, `#bench-design-${d}`, d === 'vmsave-v1' || d === 'vmload');
    await p.setInputFiles('#bench-profile-file', { name: 'measured.json', mimeType: 'application/json', buffer: Buffer.from(JSON.stringify({ name: 'measured-part', from: 'zen3', costs: { vmload: { cycles: 99, low: 90, high: 110 } } })) });
    await p.selectOption('#bench-sweep-param', 'vmload');
    await p.fill('#bench-sweep-lo', '0');
    await p.fill('#bench-sweep-hi', '400');
    await p.fill('#bench-sweep-steps', '6');
    await p.fill('#bench-draws', '8');
    await p.fill('#bench-seed', '3');
    await p.click('#bench-run');
    expect(await settled(p, '#bench-out', 180_000), await p.textContent('#bench-status') ?? '').toBe('done');
    const text = await p.textContent('#bench-text') ?? '';
    expect(text).toContain('measured-part: measured profile from measured.json');
    expect(text).toContain('sweep of vmload');
    expect(text).toContain('fastest, share of 8 draws');
    expect(await p.locator('#bench-table table').count()).toBe(1);
    expect(await p.locator('#bench-table tbody tr').count()).toBe(6);
    expect(await p.textContent('.sweep-changes')).toMatch(/ranking changes between|does not change/);
    // the sweep plot: a line per design, a point per value, the break-even rule(s) when the ranking changes
    const marks = await p.evaluate(() => ({
      lines: document.querySelectorAll('#bench-plots-out svg .mark-line.role-mark path').length,
      points: document.querySelectorAll('#bench-plots-out svg .mark-symbol.role-mark path').length,
      rules: document.querySelectorAll('#bench-plots-out svg .mark-rule.role-mark line').length,
    }));
    expect(marks.lines).toBe(2);
    expect(marks.points).toBe(12);
    const json = JSON.parse(await downloaded(p, '#bench-json'));
    expect(json.sweep.changes.length).toBeGreaterThan(0);
    expect(marks.rules).toBe(json.sweep.changes.length);
    expect(json.fsgsbase).toBe(false);
    expect(json.sweep.draws).toBe(8);
    await shot(p, 'bench-sweep.png');
    // back to the plain bench, with uncertainty draws
    await p.setInputFiles('#bench-profile-file', []);
    await p.selectOption('#bench-sweep-param', '');
    await p.selectOption('#bench-workload', 'cpuid');
    expect(await p.isDisabled('#bench-in-kernel')).toBe(true);
    await check(p, '#bench-calibrate', false);
    await p.fill('#bench-iterations', '50');
    await p.fill('#bench-draws', '20');
    await p.click('#bench-run');
    expect(await settled(p, '#bench-out', 180_000), await p.textContent('#bench-status') ?? '').toBe('done');
    const t2 = await p.textContent('#bench-text') ?? '';
    expect(t2).not.toContain('calibrated');
    expect(t2).toContain('profile zen3, workload cpuid, 50 iterations, FSGSBASE off');
    expect(t2).toMatch(/uncertainty: 20 draws \(seed 3\)/);
    // the draws as a table and a plot: a 5%..95% rule and a median point per design
    expect(await p.textContent('#bench-table')).toMatch(/20 draws \(seed 3\) of every constant in its range/);
    expect(await p.textContent('#bench-table')).toContain('fastest in (share of draws)');
    const u = await p.evaluate(() => ({
      rules: document.querySelectorAll('#bench-plots-out svg .mark-rule.role-mark line').length,
      points: document.querySelectorAll('#bench-plots-out svg .mark-symbol.role-mark path').length,
      titles: [...document.querySelectorAll('#bench-plots-out svg .role-title-text text')].map((t) => t.textContent).join('|'),
    }));
    expect(u.titles).toContain('Total cycles per KVM_RUN over 20 draws (zen3, cpuid)');
    expect(u.rules).toBe(2);
    expect(u.points).toBe(2 + 2 * 5);
    // no plots
    await check(p, '#bench-plots', false);
    await p.fill('#bench-draws', '0');
    await p.click('#bench-run');
    expect(await settled(p, '#bench-out', 180_000), await p.textContent('#bench-status') ?? '').toBe('done');
    expect(await p.locator('#bench-plots-out svg').count()).toBe(0);
    expect(await p.isDisabled('#bench-svg')).toBe(true);
    expect(await p.isEnabled('#bench-json')).toBe(true);
    expect(pageErrors).toEqual([]);
  }, 400_000);

  it('bench: bad input is refused, and Cancel stops a run', async () => {
    const p = page!;
    pageErrors = [];
    await p.fill('#bench-iterations', '0');
    await p.click('#bench-run');
    expect(await p.getAttribute('#bench-out', 'data-state')).toBe('invalid');
    expect(await p.textContent('#bench-status')).toContain('iterations');
    // a measured profile with a typo: the worker's error, shown
    await p.fill('#bench-iterations', '20');
    await p.setInputFiles('#bench-profile-file', { name: 'typo.json', mimeType: 'application/json', buffer: Buffer.from('{"name":"x","costs":{"vmlaod":{"cycles":1}}}') });
    await p.click('#bench-run');
    expect(await settled(p, '#bench-out', 60_000)).toBe('error');
    expect(await p.textContent('#bench-status')).toContain("unknown constant 'vmlaod'");
    await p.setInputFiles('#bench-profile-file', []);
    await p.fill('#bench-iterations', '50000');
    await p.fill('#bench-draws', '0');
    await p.click('#bench-run');
    await p.waitForFunction(() => (document.getElementById('bench-progress') as HTMLProgressElement).value > 0 || document.getElementById('bench-status')!.textContent!.startsWith('bench'), undefined, { timeout: 60_000 });
    expect(await p.isEnabled('#bench-cancel')).toBe(true);
    await p.click('#bench-cancel');
    expect(await p.getAttribute('#bench-out', 'data-state')).toBe('cancelled');
    expect(await p.isEnabled('#bench-run')).toBe(true);
    expect(await p.isDisabled('#bench-cancel')).toBe(true);
    expect(pageErrors).toEqual([]);
  }, 90_000);

  it('verify: designs clean and mutants caught on Web Workers, with a mutant\'s report', async () => {
    const p = page!;
    pageErrors = [];
    await p.click('#tab-verify');
    const designs = ['vmload', 'wrgsbase'];
    const mutants = ['broken-stgi', 'vmload-stgi-first'];
    for (const d of DESIGNS) await check(p, `#verify-design-${d}`, designs.includes(d));
    const allMutants = await p.$$eval('#verify-mutants input', (x) => x.map((e) => (e as HTMLInputElement).value));
    expect(allMutants.length).toBeGreaterThanOrEqual(10);
    for (const m of allMutants) await check(p, `#verify-mutant-${m}`, mutants.includes(m));
    for (const w of ['hlt', 'wrmsr', 'mix']) await check(p, `#verify-workload-${w}`, w === 'hlt');
    for (const e of ['nmi', 'intr', 'both']) await check(p, `#verify-event-${e}`, e !== 'both');
    await p.fill('#verify-jobs', '2');
    await p.fill('#verify-runs', '2');
    // the host image from the file picker (--image): the same file as the server's
    await p.setInputFiles('#verify-image', HOST_IMAGE);
    await p.click('#verify-run');
    const state = await settled(p, '#verify-out', 300_000);
    expect(state, `${await p.textContent('#verify-status')}\n${pageErrors.join('\n')}`).toBe('done');
    timings.verifyPageMs = Number(await p.getAttribute('#verify-out', 'data-ms'));
    const rows = await p.$$eval('#verify-table tbody tr', (x) => x.map((r) => [...r.children].map((c) => c.textContent)));
    expect(rows.map((r) => `${r[0]} ${r[1]} ${r[r.length - 1]}`)).toEqual([
      'vmload hlt clean', 'wrgsbase hlt clean', 'broken-stgi (mutant) hlt caught', 'vmload-stgi-first (mutant) hlt caught',
    ]);
    expect(await p.textContent('#verify-summary')).toMatch(/^2 of 2 designs clean, 2 of 2 mutants caught; \d+ replays in [\d.]+ s on 2 workers$/);
    // the report of a caught mutant: boundary, instruction, invariant, wrong and expected values
    expect(await p.$$eval('#verify-report-of option', (x) => x.map((e) => (e as HTMLOptionElement).value))).toEqual(mutants);
    await p.selectOption('#verify-report-of', 'broken-stgi');
    const rep = await p.textContent('#verify-report') ?? '';
    expect(rep).toMatch(/raised at boundary \d+ of \d+ \(host ring 0, GIF=0/);
    expect(rep).toContain('entry-gs');
    expect(rep).toMatch(/wrong value\s*\S+/);
    expect(rep).toMatch(/expected\s*\S+/);
    expect(rep).toContain('The last instructions before it');
    const json = JSON.parse(await downloaded(p, '#verify-json'));
    expect(json.ok).toBe(true);
    expect(json.units).toHaveLength(4);
    await shot(p, 'verify.png');
    // the same units from the CLI in Node, on two worker threads
    const t0 = performance.now();
    const cli = spawnSync(process.execPath, [BIN, 'verify', '--design', [...designs, ...mutants].join(','), '--workload', 'hlt', '--events', 'nmi,intr', '--runs', '2', '--jobs', '2',
      '--json', join(downloads, 'verify-cli.json')], { encoding: 'utf8', timeout: 300_000 });
    timings.verifyNodeCliMs = Math.round(performance.now() - t0);
    expect(cli.status, cli.stderr).toBe(0);
    const node = JSON.parse(readFileSync(join(downloads, 'verify-cli.json'), 'utf8'));
    timings.verifyNodeMs = node.ms;
    expect(node.replays).toBe(json.replays);
    expect(node.units.map((u: { design: string; kinds: unknown }) => [u.design, u.kinds])).toEqual(json.units.map((u: { design: string; kinds: unknown }) => [u.design, u.kinds]));
    expect(pageErrors).toEqual([]);
  }, 400_000);

  it('verify: Cancel stops the workers', async () => {
    const p = page!;
    pageErrors = [];
    for (const w of ['hlt', 'wrmsr', 'mix']) await check(p, `#verify-workload-${w}`, true);
    await p.click('#verify-run');
    await p.waitForFunction(() => document.getElementById('verify-out')!.dataset.state === 'running');
    await p.click('#verify-cancel');
    expect(await p.getAttribute('#verify-out', 'data-state')).toBe('cancelled');
    expect(await p.isEnabled('#verify-run')).toBe(true);
    expect(pageErrors).toEqual([]);
  }, 60_000);

  it('stepper: two designs side by side, host state by owner, events placed on boundaries', async () => {
    const p = page!;
    pageErrors = [];
    await p.click('#tab-stepper');
    // the first visit loads both sides (msr | vmload)
    expect(await settled(p, '#step-timeline-a', 120_000), await p.textContent('#step-status-a') ?? '').toBe('done');
    expect(await settled(p, '#step-timeline-b', 120_000), await p.textContent('#step-status-b') ?? '').toBe('done');
    const heads = await p.$$eval('#step-timeline-a thead th', (x) => x.map((e) => e.textContent));
    expect(heads).toEqual(['boundary', 'instruction', 'cycles', 'GIF', 'IF', 'GS base', 'KERNEL_GS_BASE', 'FS base', 'TR', 'LDTR', 'STAR', 'LSTAR', 'CSTAR', 'SFMASK']);
    const info = (side: string) => p.evaluate((s) => {
      const rows = [...document.querySelectorAll(`#step-timeline-${s} tbody tr`)];
      return {
        rows: rows.length,
        first: rows[0]?.textContent ?? '',
        guestCells: document.querySelectorAll(`#step-timeline-${s} td.own-guest`).length,
        hostCells: document.querySelectorAll(`#step-timeline-${s} td.own-host`).length,
        userCells: document.querySelectorAll(`#step-timeline-${s} td.own-user`).length,
        changed: document.querySelectorAll(`#step-timeline-${s} td.changed`).length,
        vmrun: rows.some((r) => / vmrun$/.test(r.children[1]?.textContent ?? '')),
        stgi: rows.filter((r) => / stgi$/.test(r.children[1]?.textContent ?? '')).map((r) => Number((r as HTMLElement).dataset.b)),
        gif0: rows.filter((r) => r.children[3]?.textContent === '0' && !r.classList.contains('guest')).map((r) => Number((r as HTMLElement).dataset.b)),
      };
    }, side);
    const a = await info('a');
    const b = await info('b');
    for (const x of [a, b]) {
      expect(x.rows).toBeGreaterThan(200);
      expect(x.first).toContain('syscall_entry');
      expect(x.vmrun).toBe(true);
      expect(x.guestCells).toBeGreaterThan(0);
      expect(x.hostCells).toBeGreaterThan(0);
      expect(x.userCells).toBeGreaterThan(0);
      expect(x.changed).toBeGreaterThan(5);
      expect(x.gif0.length).toBeGreaterThan(0);
    }
    // the msr design runs far more host instructions with guest MSR values live than vmload
    expect(await p.textContent('#step-status-a')).toMatch(/LSTAR \d{2,}/);
    // the values instead of the owners
    await check(p, '#step-values', true);
    expect(await p.isVisible('#step-timeline-b tbody tr td .val >> nth=0')).toBe(true);
    await check(p, '#step-values', false);
    // an NMI held by GIF = 0 on vmload is taken after STGI, and nothing breaks
    const held = b.gif0[Math.floor(b.gif0.length / 2)];
    await p.selectOption('#step-event', 'nmi');
    await p.click(`#step-timeline-b button[data-b="${held}"]`);
    expect(await settled(p, '#step-outcome-b', 60_000)).toBe('clean');
    const out = await p.textContent('#step-outcome-b') ?? '';
    expect(out).toContain(`raised at boundary ${held}`);
    expect(out).toContain('GIF = 0: NMIs and interrupts are held until STGI');
    const taken = Number(/NMI taken at boundary (\d+)/.exec(out)?.[1]);
    expect(b.stgi.some((s) => taken === s + 1)).toBe(true);
    expect(await p.getAttribute(`#step-timeline-b tr[data-b="${taken}"]`, 'class')).toContain('delivered');
    await shot(p, 'stepper.png');
    // the broken-stgi mutant on the left: the same kind of NMI, raised by the keyboard form, breaks entry-gs
    await p.selectOption('#step-design-a', 'broken-stgi');
    await p.click('#step-load-a');
    expect(await settled(p, '#step-timeline-a', 120_000)).toBe('done');
    const m = await info('a');
    let found = false;
    // the first boundaries held by GIF = 0 after the guest ran: the guest's GS is live there
    const guestRow = await p.$$eval('#step-timeline-a tbody tr.guest', (x) => x.map((r) => Number((r as HTMLElement).dataset.b)));
    const candidates = m.gif0.filter((x) => x > guestRow[0]).slice(-6);
    for (const at of candidates) {
      await p.fill('#step-at-a', String(at));
      await p.press('#step-at-a', 'Enter');
      const st = await settled(p, '#step-outcome-a', 60_000);
      if (st === 'violated') { found = true; break; }
    }
    expect(found, `no violation at ${candidates.join(', ')}`).toBe(true);
    expect(await p.textContent('#step-outcome-a')).toMatch(/entry-gs at/);
    await p.selectOption('#step-event', 'intr');
    await p.click(`#step-timeline-b button[data-b="${b.gif0[0]}"]`);
    expect(await settled(p, '#step-outcome-b', 60_000)).toBe('clean');
    expect(await p.textContent('#step-outcome-b')).toMatch(/interrupt 0x20 taken at boundary \d+/);
    await shot(p, 'stepper-mutant.png');
    expect(pageErrors).toEqual([]);
  }, 400_000);

  it('runs an image from the file picker with its UART in the terminal, and stops one', async () => {
    const p = page!;
    pageErrors = [];
    await p.click('#tab-image');
    await p.click('#image-boot');
    expect(await p.getAttribute('#terminal', 'data-state')).toBe('invalid');
    // not an image: the loader's error, shown
    await p.setInputFiles('#image-file', { name: 'notes.txt', mimeType: 'text/plain', buffer: Buffer.from('not a kernel at all\n'.repeat(100)) });
    await p.click('#image-boot');
    expect(await settled(p, '#terminal', 60_000)).toBe('error');
    expect(await p.textContent('#image-status')).toMatch(/^error: /);
    expect(await p.isEnabled('#image-boot')).toBe(true);
    await p.setInputFiles('#image-file', KERNEL_IMAGE);
    await p.click('#image-boot');
    expect(await settled(p, '#terminal', 120_000), await p.textContent('#image-status') ?? '').toBe('exit-3');
    const uart = await p.textContent('#uart-text') ?? '';
    expect(uart).toContain('worldswitch test kernel: paging');
    expect(uart).toMatch(/SUMMARY: \d+ tests, 0 unexpected failures/);
    // the terminal shows it too
    expect(await p.textContent('#terminal .xterm-rows')).toContain('SUMMARY');
    expect(await p.textContent('#image-status')).toMatch(/^paging\.elf: exit 3 after \d+ instructions/);
    await shot(p, 'image.png');
    // the server's copy, from the second button
    await p.click('#image-paging');
    expect(await settled(p, '#terminal', 120_000)).toBe('exit-3');
    // the host image as a plain multiboot kernel, long enough to stop; typing reaches the worker
    await p.setInputFiles('#image-file', HOST_IMAGE);
    await p.fill('#image-cmdline', 'design=vmload workload=hlt iterations=50000');
    await p.click('#image-boot');
    await p.waitForFunction(() => (document.getElementById('uart-text')!.textContent ?? '').length > 0, undefined, { timeout: 60_000 });
    await p.click('#terminal');
    await p.keyboard.type('x');
    await p.click('#image-stop');
    expect(await p.getAttribute('#terminal', 'data-state')).toBe('stopped');
    expect(await p.isEnabled('#image-boot')).toBe(true);
    expect(pageErrors).toEqual([]);
  }, 300_000);

  it.skipIf(LINUX === undefined)('boots Debian\'s bzImage with an initrd from the file pickers until Linux prints its banner', async () => {
    const p = page!;
    pageErrors = [];
    await p.setInputFiles('#image-file', join(LINUX!, 'vmlinuz'));
    await p.setInputFiles('#image-initrd', join(LINUX!, 'init.cpio'));
    await p.fill('#image-cmdline', 'console=ttyS0 cryptomgr.notests');
    await p.fill('#image-budget', '400000000');
    const t0 = performance.now();
    await p.click('#image-boot');
    await p.waitForFunction(() => /Command line: console=ttyS0 cryptomgr.notests/.test(document.getElementById('uart-text')!.textContent ?? '') || document.getElementById('terminal')!.dataset.state !== 'running', undefined, { timeout: 240_000 });
    timings.linuxBannerPageMs = Math.round(performance.now() - t0);
    const uart = await p.textContent('#uart-text') ?? '';
    expect(uart, await p.textContent('#image-status') ?? '').toMatch(/Linux version 6\.1\.\S+/);
    expect(uart).toContain('Command line: console=ttyS0 cryptomgr.notests');
    expect(await p.textContent('#terminal .xterm-rows')).toMatch(/\S/);
    await shot(p, 'image-linux.png');
    await p.click('#image-stop');
    expect(await p.getAttribute('#terminal', 'data-state')).toBe('stopped');
    expect(pageErrors).toEqual([]);
  }, 300_000);

  it('real Linux host: without the files the view says which command makes them', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'worldswitch-empty-cache-'));
    const bare = await startServer({ WORLDSWITCH_CACHE: empty });
    const p = await browser!.newPage();
    const errors: string[] = [];
    p.on('pageerror', (e) => errors.push(String(e)));
    p.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
    try {
      const manifest = await (await fetch(new URL('/linux/manifest.json', bare))).json();
      expect(manifest).toEqual({ missing: expect.stringContaining('npm run linux'), systemMap: null, snapshots: [], designs: [] });
      expect((await fetch(new URL('/linux/System.map', bare))).status).toBe(404);
      await p.goto(`${bare}#linux`);
      await p.waitForFunction(() => document.getElementById('linux-files')!.dataset.state === 'missing', undefined, { timeout: 30_000 });
      expect(await p.textContent('#linux-files')).toMatch(/^Not available: .*run npm run linux/);
      expect(await p.isDisabled('#linux-run')).toBe(true);
      expect(errors).toEqual([]);
    } finally {
      await p.close();
      rmSync(empty, { recursive: true, force: true });
    }
  });

  it.skipIf(linuxHostMissing !== undefined)(`real Linux host: the bench from the boot snapshot, the same figures as the CLI${linuxHostMissing !== undefined ? ` (skipped: ${linuxHostMissing} is missing; npm run linux)` : ''}`, async () => {
    const p = page!;
    pageErrors = [];
    // the CLI first: it takes the boot snapshot through the same cached boot (linuxhost-cache.ts)
    // when there is none yet (about 777 M instructions), and its figures are what the page must give
    const cliJson = join(downloads, 'cli-linux.json');
    const t0 = performance.now();
    const cli = spawnSync(process.execPath, [BIN, 'bench', '--host', 'linux', '--designs', LINUX_HOST_DESIGNS.join(','), '--workload', 'hlt',
      '--iterations', String(LINUX_HOST_ITERATIONS), '--json', cliJson], { encoding: 'utf8', timeout: 400_000 });
    timings.linuxBenchNodeCliMs = Math.round(performance.now() - t0);
    expect(cli.status, cli.stderr).toBe(0);
    const want = JSON.parse(readFileSync(cliJson, 'utf8'));
    timings.linuxBenchNodeDesignsMs = Math.round(want.designs.reduce((n: number, d: { runMs: number }) => n + d.runMs, 0));
    // the CLI read the snapshot file, or booted (777 M instructions) and saved one
    timings.linuxBenchNodeSnapshot = want.boot.fromCache ? `read in ${Math.round(want.boot.loadMs)} ms` : `none: booted in ${Math.round(want.boot.ms)} ms and saved one`;
    // the server's view of the files: known names only, no traversal
    const base = new URL(url);
    const manifest = await (await fetch(new URL('/linux/manifest.json', base))).json();
    expect(manifest.missing).toBeNull();
    expect(manifest.designs).toEqual(expect.arrayContaining(LINUX_HOST_DESIGNS));
    const snap = manifest.snapshots.find((x: { current: boolean }) => x.current);
    expect((await fetch(new URL(snap.url, base), { method: 'HEAD' })).headers.get('content-length')).toBe(String(snap.bytes));
    expect((await fetch(new URL('/linux/System.map', base))).headers.get('content-type')).toMatch(/^text\/plain/);
    for (const bad of ['/linux/', '/linux/vmlinuz', '/linux/kvm/vmload/', '/linux/kvm/vmload/inputs.sha256', '/linux/kvm/%2e%2e/vmload/kvm.ko',
      '/linux/kvm/..%2fvmload/kvm.ko', `/linux/snapshots/${snap.name}.json`, '/linux/snapshots/%2e%2e%2fSystem.map', '/linux/kvm/vmload/..%2f..%2f..%2flinux%2fSystem.map']) {
      expect((await fetch(new URL(bad, base))).status, bad).toBe(404);
    }

    await p.click('#tab-linux');
    await p.waitForFunction(() => document.getElementById('linux-files')!.dataset.state === 'ready', undefined, { timeout: 30_000 });
    expect(await p.textContent('#linux-files')).toMatch(/Boot snapshot kvmhost-[0-9a-f]+\.snap: \d+ MiB/);
    for (const d of DESIGNS) if (manifest.designs.includes(d)) await check(p, `#linux-design-${d}`, LINUX_HOST_DESIGNS.includes(d));
    expect(await p.isChecked('#linux-design-other-debian')).toBe(false);
    await p.selectOption('#linux-workload', 'hlt');
    await p.selectOption('#linux-profile', 'zen3');
    // bad input is refused before a worker starts
    await p.fill('#linux-iterations', '3');
    await p.click('#linux-run');
    await p.waitForFunction(() => document.getElementById('linux-out')!.dataset.state === 'invalid');
    expect(await p.textContent('#linux-status')).toContain('iterations');
    // Cancel: a long run stopped while it fetches or runs
    await p.fill('#linux-iterations', '5000');
    await p.click('#linux-run');
    await p.waitForFunction(() => (document.getElementById('linux-progress') as HTMLProgressElement).value > 0, undefined, { timeout: 60_000 });
    expect(await p.isEnabled('#linux-cancel')).toBe(true);
    await p.click('#linux-cancel');
    expect(await p.getAttribute('#linux-out', 'data-state')).toBe('cancelled');
    expect(await p.isEnabled('#linux-run')).toBe(true);
    // the run
    await p.fill('#linux-iterations', String(LINUX_HOST_ITERATIONS));
    await p.click('#linux-run');
    const state = await settled(p, '#linux-out', 300_000);
    const status = await p.textContent('#linux-status') ?? '';
    expect(state, `${status}\n${pageErrors.join('\n')}`).toBe('done');
    timings.linuxBenchPageMs = Number(await p.getAttribute('#linux-out', 'data-ms'));
    timings.linuxBenchPageDesignsMs = Number(await p.getAttribute('#linux-out', 'data-designs-ms'));
    timings.linuxBenchPageMemory = await p.textContent('#linux-memory');
    const got = JSON.parse(await downloaded(p, '#linux-json'));
    // the same figures as Node: cycles per KVM_RUN (every phase), host instructions, counts, the profile
    expect(got.designs.map((d: { design: string }) => d.design)).toEqual(LINUX_HOST_DESIGNS);
    const figures = (j: { designs: Record<string, unknown>[] }) => j.designs.map((d) => ({
      design: d.design, ok: d.ok, phases: d.phases, cycles: d.cycles, instructions: d.instructions, hostInstructions: d.hostInstructions,
      serializing: d.serializing, msrAccesses: d.msrAccesses, vmruns: d.vmruns, profileTotal: d.profileTotal, profile: d.profile, threadRows: d.threadRows, text: d.text,
    }));
    expect(figures(got)).toEqual(figures(want));
    expect(got.designs[0].ok).toBe(true);
    expect(got.designs[0].cycles).toBeGreaterThan(1000);
    expect(got.designs[0].hostInstructions).toBeGreaterThan(1000);
    expect({ ...got, boot: null, designs: null }).toEqual({ ...want, boot: null, designs: null });
    // the table, the thread's perf report beside each design's, the plot (3 phase bars per design)
    const head = await p.$$eval('#linux-phases thead th', (x) => x.map((e) => e.textContent));
    expect(head.slice(1)).toEqual(LINUX_HOST_DESIGNS);
    const cells = await p.$$eval('#linux-phases tbody tr', (rows) => rows.map((r) => [...r.children].map((c) => c.textContent)));
    const total = cells.find((r) => r[0] === 'total')!;
    expect(total.slice(1)).toEqual(want.designs.map((d: { phases: { total: { min: number; median: number } } }) => `${d.phases.total.min} / ${d.phases.total.median}`));
    expect(cells.find((r) => r[0] === 'per KVM_RUN: host instructions')!.slice(1)).toEqual(want.designs.map((d: { hostInstructions: number }) => String(d.hostInstructions)));
    expect(await p.textContent('#linux-thread')).toContain('kvm_arch_vcpu_ioctl_run');
    expect(await p.locator('#linux-plots-out svg').count()).toBe(1);
    expect(await p.evaluate(() => document.querySelectorAll('#linux-plots-out svg .mark-rect.role-mark path').length)).toBe(LINUX_HOST_DESIGNS.length * 3);
    expect(await downloaded(p, '#linux-svg')).toMatch(/^<svg/);
    // the profile of a chosen design, as the CLI's text shows it
    await p.selectOption('#linux-profile-of', 'vmload-notss');
    await p.fill('#linux-profile-rows', '25');
    await p.dispatchEvent('#linux-profile-rows', 'change');
    const prow = await p.$$eval('#linux-profile-table tbody tr', (rows) => rows.map((r) => [...r.children].map((c) => c.textContent)));
    expect(prow).toHaveLength(25);
    const text = await p.textContent('#linux-text') ?? '';
    const cliProfile = text.split('profile of vmload-notss')[1].split('\n').slice(2, 27);
    expect(prow.map((r) => `${r[0]}% ${r[1]}% ${r[2]}`)).toEqual(cliProfile.map((l) => l.trim().replace(/\s+/g, ' ')));
    expect(prow.find((r) => r[2] === 'kvm_arch_vcpu_ioctl_run [kvm]')?.[3]).toBe('67.49');
    expect(text).toContain('real host: Debian Linux 6.1, kvm_amd per design; profile zen3, workload hlt, 8 KVM_RUNs each');
    await shot(p, 'linux.png');
    // uncertainty draws of the constants, one design, the fewest KVM_RUNs
    await check(p, '#linux-design-vmload-notss', false);
    await p.fill('#linux-iterations', '4');
    await p.fill('#linux-draws', '50');
    await p.fill('#linux-seed', '2');
    await p.click('#linux-run');
    expect(await settled(p, '#linux-out', 300_000), await p.textContent('#linux-status') ?? '').toBe('done');
    const u = JSON.parse(await downloaded(p, '#linux-json')).uncertainty;
    expect(u).toMatchObject({ draws: 50, seed: 2, designs: [{ design: 'vmload', fastest: 1 }] });
    expect(u.designs[0].lo).toBeLessThanOrEqual(u.designs[0].median);
    expect(u.designs[0].median).toBeLessThanOrEqual(u.designs[0].hi);
    expect(await p.textContent('#linux-uncertainty')).toContain('50 draws of every constant from its range (seed 2)');
    expect(await p.textContent('#linux-text')).toContain('zen3, real host, hlt: 50 draws of every constant');
    expect(pageErrors).toEqual([]);
  }, 600_000);
});
