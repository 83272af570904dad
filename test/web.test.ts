// The browser lab (web/) in Debian's chromium through playwright-core: web/serve.mjs serves the
// repository, the page runs the bench in a module worker on the compiled core in dist/, and a
// second button boots the paging test kernel. Chromium is optional locally (the test is
// skipped, with the reason printed) and required in CI (CI=true; .ci/run installs it).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';

const ROOT = process.cwd();
const CI = process.env.CI === 'true';
const CHROMIUM = '/usr/bin/chromium';
const HOST_IMAGE = join(ROOT, 'build', 'host', 'host.elf');
const KERNEL_IMAGE = join(ROOT, 'build', 'guest', 'paging.elf');
const SHOT = join(ROOT, 'build', 'web-test.png');
const DESIGNS = ['msr', 'vmsave-v1', 'vmload', 'vmload-notss', 'wrgsbase'];

const missing = existsSync(CHROMIUM) ? '' : `${CHROMIUM} not found (apt-get install chromium)`;
if (missing !== '' && !CI) console.warn(`web.test: skipping: ${missing}`);

let server: ChildProcess | undefined;
let browser: BrowserContext | undefined;
let page: Page | undefined;
let profileDir = '';
let pageErrors: string[] = [];

/** start web/serve.mjs on a port the OS picks and read the lab's URL from its first line */
function startServer(): Promise<string> {
  const child = spawn(process.execPath, [join(ROOT, 'web', 'serve.mjs'), '0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  server = child;
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

describe.skipIf(missing !== '' && !CI)(missing ? `browser lab (skipped: ${missing})` : 'browser lab', () => {
  let url = '';

  beforeAll(async () => {
    if (missing !== '') return;
    // the page imports the compiled core and fetches the images; build what is missing only
    if (!existsSync(join(ROOT, 'dist', 'lab', 'bench.js'))) execFileSync(process.execPath, [join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.json'], { stdio: 'pipe' });
    if (!existsSync(HOST_IMAGE)) execFileSync('bash', [join(ROOT, 'guest', 'host', 'build.sh')], { stdio: 'pipe' });
    if (!existsSync(KERNEL_IMAGE)) execFileSync('bash', [join(ROOT, 'guest', 'build.sh')], { stdio: 'pipe' });
    url = await startServer();
    const { chromium } = await import('playwright-core');
    profileDir = mkdtempSync(join(tmpdir(), 'worldswitch-chromium-'));
    // a fresh profile each run (playwright passes it as --user-data-dir)
    browser = await chromium.launchPersistentContext(profileDir, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1280, height: 1000 },
      args: [
        '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync',
      ],
    });
    page = browser.pages()[0] ?? await browser.newPage();
    page.on('pageerror', (e) => pageErrors.push(String(e)));
    page.on('console', (m) => { if (m.type() === 'error') pageErrors.push(`${m.text()} (${m.location().url})`); });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    server?.kill();
    if (profileDir !== '') rmSync(profileDir, { recursive: true, force: true });
  });

  it('has chromium (required in CI)', () => {
    expect(missing, 'CI must install chromium (.ci/run)').toBe('');
  });

  it('serves only files inside the repository, with their MIME types', async () => {
    const base = new URL(url);
    const get = (p: string) => fetch(new URL(p, base));
    const js = await get('/dist/lab/bench.js');
    expect(js.status).toBe(200);
    expect(js.headers.get('content-type')).toMatch(/^text\/javascript/);
    expect((await get('/web/index.html')).headers.get('content-type')).toMatch(/^text\/html/);
    expect((await get('/build/host/host.elf')).headers.get('content-type')).toBe('application/octet-stream');
    expect((await get('/dist/')).status).toBe(404);
    expect((await get('/%2e%2e/%2e%2e/etc/passwd')).status).toBe(404);
    expect((await get('/web/no-such-file.js')).status).toBe(404);
  });

  it('runs the bench in the page and shows the table', async () => {
    const p = page!;
    pageErrors = [];
    await p.goto(url);
    await p.waitForFunction(() => !(document.getElementById('run-bench') as HTMLButtonElement).disabled);
    await p.click('#run-bench');
    await p.waitForFunction(() => {
      const s = document.getElementById('bench-table')!.dataset.state;
      return s !== 'running' && s !== 'idle';
    }, undefined, { timeout: 60_000 });
    const state = await p.getAttribute('#bench-table', 'data-state');
    const table = await p.textContent('#bench-table') ?? '';
    const cal = await p.textContent('#calibration') ?? '';
    const status = await p.textContent('#status') ?? '';
    expect(state, `${status}\n${pageErrors.join('\n')}`).toBe('done');
    for (const d of DESIGNS) expect(table).toContain(d);
    expect(table).toContain('ioctl entry -> pre-VMRUN');
    expect(table).toContain('profile zen3, workload hlt, 200 iterations');
    expect(cal).toMatch(/^zen3: calibrated .* base [\d.]+ cycles per instruction, world switch \d+ cycles$/);
    expect(pageErrors).toEqual([]);
  }, 70_000);

  it('boots the paging test kernel and shows its UART output', async () => {
    const p = page!;
    pageErrors = [];
    await p.click('#boot-kernel');
    await p.waitForFunction(() => {
      const s = document.getElementById('uart')!.dataset.state;
      return s !== 'running' && s !== 'idle';
    }, undefined, { timeout: 30_000 });
    const uart = await p.textContent('#uart') ?? '';
    expect(await p.getAttribute('#uart', 'data-state'), await p.textContent('#status') ?? '').toBe('done');
    expect(uart).toContain('worldswitch test kernel: paging');
    expect(uart).toMatch(/SUMMARY: \d+ tests, 0 unexpected failures/);
    mkdirSync(join(ROOT, 'build'), { recursive: true });
    await p.screenshot({ path: SHOT, fullPage: true });
    expect(pageErrors).toEqual([]);
  }, 40_000);
});
