/**
 * The VMCB layout as data (AMD64 APM Vol. 2, Appendix B; offsets as in Linux
 * arch/x86/include/asm/svm.h). One table of fields, used by VMRUN, #VMEXIT, VMLOAD and VMSAVE
 * and by the tests; nothing else writes VMCB offsets.
 *
 * The control area is at 000h-3FFh, the state-save area at 400h. A segment entry is 16 bytes:
 * selector (u16 at +0), attributes (u16 at +2: descriptor bits 47:40 in 7:0 and 55:52 in 11:8),
 * limit (u32 at +4), base (u64 at +8).
 */

export interface VmcbField {
  name: string;
  area: 'control' | 'save';
  /** offset from the VMCB base */
  offset: number;
  /** bytes: 1, 2, 4, 8, or 16 for a segment entry */
  size: number;
}

const FIELDS: VmcbField[] = [];

function ctl(name: string, offset: number, size: number): number {
  FIELDS.push({ name, area: 'control', offset, size });
  return offset;
}

function sav(name: string, offset: number, size: number): number {
  FIELDS.push({ name, area: 'save', offset: 0x400 + offset, size });
  return 0x400 + offset;
}

/** Control-area and state-save offsets, each registered in the field table. */
export const V = {
  // ---- control area ----
  INTERCEPT_CR: ctl('intercept_cr', 0x000, 4), // reads 15:0, writes 31:16
  INTERCEPT_DR: ctl('intercept_dr', 0x004, 4),
  INTERCEPT_EXC: ctl('intercept_exceptions', 0x008, 4),
  INTERCEPT_MISC1: ctl('intercept_misc1', 0x00c, 4),
  INTERCEPT_MISC2: ctl('intercept_misc2', 0x010, 4),
  PAUSE_FILTER_THRESHOLD: ctl('pause_filter_threshold', 0x03c, 2),
  PAUSE_FILTER_COUNT: ctl('pause_filter_count', 0x03e, 2),
  IOPM_BASE_PA: ctl('iopm_base_pa', 0x040, 8),
  MSRPM_BASE_PA: ctl('msrpm_base_pa', 0x048, 8),
  TSC_OFFSET: ctl('tsc_offset', 0x050, 8),
  ASID: ctl('guest_asid', 0x058, 4),
  TLB_CONTROL: ctl('tlb_control', 0x05c, 1),
  INT_CTL: ctl('int_ctl', 0x060, 4),
  INT_VECTOR: ctl('int_vector', 0x064, 4),
  INT_STATE: ctl('int_state', 0x068, 4),
  EXITCODE: ctl('exit_code', 0x070, 8),
  EXITINFO1: ctl('exit_info_1', 0x078, 8),
  EXITINFO2: ctl('exit_info_2', 0x080, 8),
  EXITINTINFO: ctl('exit_int_info', 0x088, 8),
  NP_ENABLE: ctl('nested_ctl', 0x090, 8),
  AVIC_APIC_BAR: ctl('avic_vapic_bar', 0x098, 8),
  GHCB_GPA: ctl('ghcb_gpa', 0x0a0, 8),
  EVENTINJ: ctl('event_inj', 0x0a8, 8),
  N_CR3: ctl('nested_cr3', 0x0b0, 8),
  VIRT_EXT: ctl('virt_ext', 0x0b8, 8),
  CLEAN: ctl('clean', 0x0c0, 4),
  NRIP: ctl('next_rip', 0x0c8, 8),
  INSN_LEN: ctl('insn_len', 0x0d0, 1),
  INSN_BYTES: ctl('insn_bytes', 0x0d1, 15),

  // ---- state-save area ----
  ES: sav('es', 0x000, 16),
  CS: sav('cs', 0x010, 16),
  SS: sav('ss', 0x020, 16),
  DS: sav('ds', 0x030, 16),
  FS: sav('fs', 0x040, 16),
  GS: sav('gs', 0x050, 16),
  GDTR: sav('gdtr', 0x060, 16),
  LDTR: sav('ldtr', 0x070, 16),
  IDTR: sav('idtr', 0x080, 16),
  TR: sav('tr', 0x090, 16),
  VMPL: sav('vmpl', 0x0ca, 1),
  CPL: sav('cpl', 0x0cb, 1),
  EFER: sav('efer', 0x0d0, 8),
  CR4: sav('cr4', 0x148, 8),
  CR3: sav('cr3', 0x150, 8),
  CR0: sav('cr0', 0x158, 8),
  DR7: sav('dr7', 0x160, 8),
  DR6: sav('dr6', 0x168, 8),
  RFLAGS: sav('rflags', 0x170, 8),
  RIP: sav('rip', 0x178, 8),
  RSP: sav('rsp', 0x1d8, 8),
  S_CET: sav('s_cet', 0x1e0, 8),
  SSP: sav('ssp', 0x1e8, 8),
  ISST: sav('isst_addr', 0x1f0, 8),
  RAX: sav('rax', 0x1f8, 8),
  STAR: sav('star', 0x200, 8),
  LSTAR: sav('lstar', 0x208, 8),
  CSTAR: sav('cstar', 0x210, 8),
  SFMASK: sav('sfmask', 0x218, 8),
  KERNEL_GS_BASE: sav('kernel_gs_base', 0x220, 8),
  SYSENTER_CS: sav('sysenter_cs', 0x228, 8),
  SYSENTER_ESP: sav('sysenter_esp', 0x230, 8),
  SYSENTER_EIP: sav('sysenter_eip', 0x238, 8),
  CR2: sav('cr2', 0x240, 8),
  G_PAT: sav('g_pat', 0x268, 8),
  DBGCTL: sav('dbgctl', 0x270, 8),
  BR_FROM: sav('br_from', 0x278, 8),
  BR_TO: sav('br_to', 0x280, 8),
  LAST_EXCP_FROM: sav('last_excp_from', 0x288, 8),
  LAST_EXCP_TO: sav('last_excp_to', 0x290, 8),
} as const;

/** every field, in offset order */
export const VMCB_FIELDS: readonly VmcbField[] = FIELDS.slice().sort((a, b) => a.offset - b.offset);

export function vmcbField(name: string): VmcbField {
  const f = FIELDS.find((x) => x.name === name);
  if (f === undefined) throw new Error(`no VMCB field ${name}`);
  return f;
}

/**
 * The state VMLOAD and VMSAVE transfer, and nothing else (APM Vol. 2 15.5.2): FS, GS, TR, LDTR
 * with their hidden parts, KernelGsBase, STAR, LSTAR, CSTAR, SFMASK, SYSENTER_CS/ESP/EIP.
 */
export const VMLOAD_FIELDS: readonly string[] = [
  'fs', 'gs', 'tr', 'ldtr', 'kernel_gs_base', 'star', 'lstar', 'cstar', 'sfmask',
  'sysenter_cs', 'sysenter_esp', 'sysenter_eip',
];

/** VMCB clean bits (APM Vol. 2 15.15, "VMCB State Caching"; Linux enum VMCB_*): the group of fields each covers */
export const enum Clean {
  /** intercept vectors, TSC offset, pause filter count and threshold */
  I = 0,
  /** IOPM_BASE_PA, MSRPM_BASE_PA */
  IOPM = 1,
  ASID = 2,
  /** V_TPR, V_IRQ, V_INTR_PRIO, V_IGN_TPR, V_INTR_MASKING, V_INTR_VECTOR (int_ctl, int_vector) */
  TPR = 3,
  /** NP_ENABLE, N_CR3, G_PAT */
  NP = 4,
  /** CR0, CR3, CR4, EFER */
  CR = 5,
  /** DR6, DR7 */
  DR = 6,
  /** GDTR, IDTR */
  DT = 7,
  /** ES, CS, SS, DS, CPL */
  SEG = 8,
  CR2 = 9,
  /** DbgCtlMsr, BR_FROM/TO, LASTINT_FROM/TO */
  LBR = 10,
}

/** int_ctl (060h) bits beyond V_TPR/V_IRQ/V_INTR_PRIO/V_IGN_TPR/V_INTR_MASKING */
export const enum IntCtl {
  VGIF = 1 << 9,
  VNMI_PENDING = 1 << 11,
  VNMI_BLOCKING = 1 << 12,
  VGIF_ENABLE = 1 << 25,
  VNMI_ENABLE = 1 << 26,
}

/** nested_ctl (090h) */
export const enum NpCtl {
  NP = 1 << 0,
  /** guest-mode execute trap (APM Vol. 2 15.25, "Guest Mode Execute Trap") */
  GMET = 1 << 3,
}

/** virt_ext (0B8h) */
export const enum VirtExt {
  LBR = 1 << 0,
  VMSAVE_VMLOAD = 1 << 1,
}

/** Exit codes (APM Vol. 2 Appendix C; Linux uapi/asm/svm.h) */
export const enum Exit {
  READ_CR0 = 0x00, WRITE_CR0 = 0x10, READ_DR0 = 0x20, WRITE_DR0 = 0x30, EXCP_BASE = 0x40,
  INTR = 0x60, NMI = 0x61, SMI = 0x62, INIT = 0x63, VINTR = 0x64, CR0_SEL_WRITE = 0x65,
  IDTR_READ = 0x66, GDTR_READ = 0x67, LDTR_READ = 0x68, TR_READ = 0x69,
  IDTR_WRITE = 0x6a, GDTR_WRITE = 0x6b, LDTR_WRITE = 0x6c, TR_WRITE = 0x6d,
  RDTSC = 0x6e, RDPMC = 0x6f, PUSHF = 0x70, POPF = 0x71, CPUID = 0x72, RSM = 0x73, IRET = 0x74,
  SWINT = 0x75, INVD = 0x76, PAUSE = 0x77, HLT = 0x78, INVLPG = 0x79, INVLPGA = 0x7a, IOIO = 0x7b,
  MSR = 0x7c, TASK_SWITCH = 0x7d, FERR_FREEZE = 0x7e, SHUTDOWN = 0x7f,
  VMRUN = 0x80, VMMCALL = 0x81, VMLOAD = 0x82, VMSAVE = 0x83, STGI = 0x84, CLGI = 0x85,
  SKINIT = 0x86, RDTSCP = 0x87, ICEBP = 0x88, WBINVD = 0x89, MONITOR = 0x8a, MWAIT = 0x8b,
  MWAIT_COND = 0x8c, XSETBV = 0x8d, RDPRU = 0x8e,
  NPF = 0x400,
  /** VMEXIT_INVALID is -1, written as a 64-bit value */
  INVALID = -1,
}

/**
 * Intercept bit for an exit code: which control word (0 CR, 1 DR, 2 exceptions, 3 misc1, 4
 * misc2) and bit. Codes 0x60-0x7F map to misc1 bits 0-31 and 0x80-0x8F to misc2 bits 0-15.
 */
export function interceptBitOf(code: number): [word: number, bit: number] {
  if (code < 0x20) return [0, code < 0x10 ? code : 16 + (code - 0x10)];
  if (code < 0x40) return [1, code < 0x30 ? code - 0x20 : 16 + (code - 0x30)];
  if (code < 0x60) return [2, code - 0x40];
  if (code < 0x80) return [3, code - 0x60];
  return [4, code - 0x80];
}
