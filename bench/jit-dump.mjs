// Prints the JavaScript source of every block the compiler makes while a bench kernel runs
// (wraps globalThis.Function before the machine is loaded).
// Usage: npm run build && node bench/qemu-ratio.mjs --kernel K --runs 1 (builds build/bench/K.elf)
//        node bench/jit-dump.mjs [cpuloop|sieve] [instructions]
import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const srcs = [];
const F = globalThis.Function;
globalThis.Function = function (...a) { srcs.push(a[a.length - 1]); return F(...a); };
const { Machine } = await import('../dist/machine/machine.js');
const k = process.argv[2] || 'cpuloop';
const m = new Machine({ memSize: 64 << 20, jit: true });
m.boot(readFileSync(join(root, 'build', 'bench', `${k}.elf`)), { name: k });
const r = m.run(Number(process.argv[3] ?? 3e8));
console.log(`${r.icount} instructions, ${srcs.length} sources`);
for (const s of srcs) console.log('-----\n' + s);
