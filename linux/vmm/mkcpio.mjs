// The real host's initramfs: node linux/vmm/mkcpio.mjs VMM_BINARY KVM_DIR OUT.cpio
// /init is the VMM; /kvm/irqbypass.ko and /kvm/<name>/{kvm,kvm-amd}.ko for every <name> in
// KVM_DIR that has both modules (designs, mutants, and Debian's own as "debian").
import { readFileSync, readdirSync, existsSync, writeFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { writeCpio } from '../../dist/machine/cpio.js';

const [vmm, kvmDir, out] = process.argv.slice(2);
const entries = [
  { type: 'dir', path: 'dev' },
  { type: 'chardev', path: 'dev/console', major: 5, minor: 1 },
  { type: 'dir', path: 'proc', mode: 0o555 },
  { type: 'dir', path: 'sys', mode: 0o555 },
  { type: 'file', path: 'init', data: readFileSync(vmm), mode: 0o755 },
  { type: 'dir', path: 'kvm' },
  { type: 'file', path: 'kvm/irqbypass.ko', data: readFileSync(`${kvmDir}/irqbypass.ko`), mode: 0o644 },
];
// a module file identical to one already in the archive (most variants share one kvm.ko) is a
// symbolic link to it: finit_module follows it, and the archive stays small
const seen = new Map();
const names = [];
for (const name of readdirSync(kvmDir).sort()) {
  const d = `${kvmDir}/${name}`;
  if (name === 'shared' || !existsSync(`${d}/kvm.ko`) || !existsSync(`${d}/kvm-amd.ko`)) continue;
  names.push(name);
  entries.push({ type: 'dir', path: `kvm/${name}` });
  for (const m of ['kvm.ko', 'kvm-amd.ko']) {
    const data = readFileSync(`${d}/${m}`);
    const h = createHash('sha256').update(data).digest('hex');
    const path = `kvm/${name}/${m}`;
    if (seen.has(h)) entries.push({ type: 'symlink', path, target: `/${seen.get(h)}` });
    else { seen.set(h, path); entries.push({ type: 'file', path, data, mode: 0o644 }); }
  }
}
const img = writeCpio(entries);
writeFileSync(out, img);
console.error(`kvmhost: wrote ${out} (${(img.length / 1048576).toFixed(1)} MiB; module sets: ${names.join(', ')})`);
