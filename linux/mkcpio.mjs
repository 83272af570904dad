// Writes the two initramfs images from built files (run by linux/build-initramfs.sh after
// `npm run build`):  node linux/mkcpio.mjs INIT_BINARY BUSYBOX OUTDIR
import { readFileSync, writeFileSync } from 'node:fs';
import { writeCpio } from '../dist/machine/cpio.js';

const [init, busybox, outDir] = process.argv.slice(2);
const base = [
  { type: 'dir', path: 'dev' },
  { type: 'chardev', path: 'dev/console', major: 5, minor: 1 },
  { type: 'dir', path: 'proc', mode: 0o555 },
  { type: 'dir', path: 'sys', mode: 0o555 },
  { type: 'dir', path: 'root', mode: 0o700 },
];
writeFileSync(`${outDir}/init.cpio`, writeCpio([...base, { type: 'file', path: 'init', data: readFileSync(init), mode: 0o755 }]));

// the busybox /init: mount the pseudo file systems, then a shell with the console as its
// controlling terminal (job control, ^C); power off when it exits
const script = `#!/bin/sh
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
echo "init: busybox shell on $(uname -r); exit to power off"
setsid cttyhack sh
poweroff -f
`;
writeFileSync(`${outDir}/busybox.cpio`, writeCpio([
  ...base,
  { type: 'dir', path: 'bin' }, { type: 'dir', path: 'sbin' }, { type: 'dir', path: 'usr' },
  { type: 'dir', path: 'usr/bin' }, { type: 'dir', path: 'usr/sbin' }, { type: 'dir', path: 'tmp', mode: 0o1777 },
  { type: 'file', path: 'bin/busybox', data: readFileSync(busybox), mode: 0o755 },
  { type: 'symlink', path: 'bin/sh', target: 'busybox' },
  { type: 'file', path: 'init', data: new TextEncoder().encode(script), mode: 0o755 },
]));
