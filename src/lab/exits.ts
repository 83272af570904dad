/** Names of SVM exit codes (APM Vol. 2 Appendix C; the names `perf kvm stat` prints on AMD). */

const NAMES: Record<number, string> = {
  0x60: 'intr', 0x61: 'nmi', 0x62: 'smi', 0x63: 'init', 0x64: 'vintr', 0x65: 'cr0_sel_write',
  0x6e: 'rdtsc', 0x6f: 'rdpmc', 0x70: 'pushf', 0x71: 'popf', 0x72: 'cpuid', 0x73: 'rsm', 0x74: 'iret',
  0x75: 'swint', 0x76: 'invd', 0x77: 'pause', 0x78: 'hlt', 0x79: 'invlpg', 0x7a: 'invlpga', 0x7b: 'io',
  0x7c: 'msr', 0x7d: 'task_switch', 0x7e: 'ferr_freeze', 0x7f: 'shutdown',
  0x80: 'vmrun', 0x81: 'vmmcall', 0x82: 'vmload', 0x83: 'vmsave', 0x84: 'stgi', 0x85: 'clgi',
  0x86: 'skinit', 0x87: 'rdtscp', 0x88: 'icebp', 0x89: 'wbinvd', 0x8a: 'monitor', 0x8b: 'mwait',
  0x8d: 'xsetbv', 0x8e: 'rdpru', 0x400: 'npf', [-1]: 'invalid',
};

export function exitName(code: number): string {
  if (NAMES[code] !== undefined) return NAMES[code];
  if (code >= 0 && code < 0x10) return `read_cr${code}`;
  if (code >= 0x10 && code < 0x20) return `write_cr${code - 0x10}`;
  if (code >= 0x20 && code < 0x30) return `read_dr${code - 0x20}`;
  if (code >= 0x30 && code < 0x40) return `write_dr${code - 0x30}`;
  if (code >= 0x40 && code < 0x60) return `excp_${code - 0x40}`;
  return `0x${code.toString(16)}`;
}
