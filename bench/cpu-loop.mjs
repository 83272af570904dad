// Guest instructions per second on a fixed CPU-bound 64-bit loop (median of 5 runs).
// Usage: node bench/cpu-loop.mjs [--runs N] [--insns N]   (after `npm run build`)
import { Cpu } from '../dist/cpu/cpu.js';
import { PhysMem } from '../dist/machine/memory.js';
import { setFlatMode } from '../dist/cpu/setup.js';

const args = process.argv.slice(2);
const opt = (name, dflt) => { const k = args.indexOf(name); return k >= 0 ? Number(args[k + 1]) : dflt; };
const runs = opt('--runs', 5);
// --paged: real long mode with 4-level paging (identity-mapped 2 MiB pages), as kernels run
const paged = args.includes('--paged');
const insns = opt('--insns', 50_000_000);
// --jit / --no-jit: the block compiler on or off (default: the CPU's default)
const jit = args.includes('--jit') ? true : args.includes('--no-jit') ? false : null;

// The loop: a checksum over a 4 KiB buffer with loads, stores, ALU ops and branches.
//   mov rsi, 0x10000 ; mov ecx, 512 ; xor eax, eax ; mov rdx, 0x9E3779B97F4A7C15
// l: mov rbx, [rsi+rcx*8-8] ; add rax, rbx ; xor rax, rdx ; rol? (avoid: not yet) lea rax,[rax+rax*2+7]
//    mov [rsi+rcx*8-8], rax ; dec ecx ; jnz l ; jmp start
const code = [
  0x48, 0xc7, 0xc6, 0x00, 0x00, 0x01, 0x00,       // mov rsi, 0x10000
  0xb9, 0x00, 0x02, 0x00, 0x00,                   // mov ecx, 512
  0x31, 0xc0,                                     // xor eax, eax
  0x48, 0xba, 0x15, 0x7c, 0x4a, 0x7f, 0xb9, 0x79, 0x37, 0x9e, // mov rdx, imm64
  0x48, 0x8b, 0x5c, 0xce, 0xf8,                   // l: mov rbx, [rsi+rcx*8-8]
  0x48, 0x01, 0xd8,                               // add rax, rbx
  0x48, 0x31, 0xd0,                               // xor rax, rdx
  0x48, 0x8d, 0x44, 0x40, 0x07,                   // lea rax, [rax+rax*2+7]
  0x48, 0x89, 0x44, 0xce, 0xf8,                   // mov [rsi+rcx*8-8], rax
  0xff, 0xc9,                                     // dec ecx
  0x75, 0xe7,                                     // jnz l
  0xeb, 0xcd,                                     // jmp start
];

function once() {
  const mem = new PhysMem(1 << 20);
  mem.load(0x1000, Uint8Array.from(code));
  const c = new Cpu(mem);
  setFlatMode(c, 64);
  if (jit !== null) c.setJit(jit);
  if (paged) {
    // PML4 0x80000 -> PDPT 0x81000 -> PD 0x82000 (2 MiB pages, identity)
    mem.write32(0x80000, 0x81003); mem.write32(0x81000, 0x82003); mem.write32(0x82000, 0x83);
    c.cr3 = 0x80000;
    c.cr4 |= 0x20;
    c.cr0 = (c.cr0 | 0x80000000) >>> 0;
    c.pagingOn = true;
    c.paging.flushAll();
  }
  c.rip = 0x1000;
  const t0 = process.hrtime.bigint();
  const u0 = process.cpuUsage();
  c.run(insns);
  const u1 = process.cpuUsage(u0);
  const t1 = process.hrtime.bigint();
  const secs = Number(t1 - t0) / 1e9;
  const cpu = (u1.user + u1.system) / 1e6;
  return { ips: c.icount / secs, cpuIps: c.icount / cpu, icount: c.icount, secs, cpu, rax: c.rl[0] >>> 0 };
}

const results = [];
for (let k = 0; k < runs; k++) results.push(once());
const med = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]; };
const median = med(results.map((r) => r.ips));
const cpuMedian = med(results.map((r) => r.cpuIps));
for (const r of results) console.log(`run: ${r.icount} insns in ${r.secs.toFixed(3)} s = ${(r.ips / 1e6).toFixed(1)} M/s; cpu ${r.cpu.toFixed(3)} s = ${(r.cpuIps / 1e6).toFixed(1)} M/s (rax=${r.rax.toString(16)})`);
console.log(`median: ${(median / 1e6).toFixed(1)} million guest instructions per second of wall time, ${(cpuMedian / 1e6).toFixed(1)} per second of CPU time (${runs} runs of ${insns}${paged ? ', paged' : ''}${jit === null ? '' : jit ? ', jit' : ', no jit'})`);
