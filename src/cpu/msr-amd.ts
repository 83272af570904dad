/**
 * The AMD configuration MSRs of a family 17h part that system software (Linux 6.x, its kvm-amd
 * module) reads or writes at boot, with their AMD meanings (AMD64 APM Vol. 2 App. A; PPR for
 * family 17h model 31h), and the MTRRs. None of them changes how worldswitch executes (it has
 * no caches, no SMM, no memory controller, no errata): each holds what software writes, checked
 * as the manual says, and reads back its architectural value.
 *
 * The whole MSR table of the machine (every MSR that RDMSR/WRMSR accept; anything else is #GP(0),
 * among them Intel's IA32_FEATURE_CONTROL 3Ah, MISC_ENABLE 1A0h, SPEC_CTRL 48h and PRED_CMD 49h,
 * which CPUID does not advertise, and the machine-check banks MCi_*, as CPUID reports no MCA):
 *
 *   MSR         name               reference                          reset value
 *   0000_0010   TSC                APM 13.2.4                         0 (counts cycles)
 *   0000_001B   APIC_BASE          APM 16.3.1                         FEE0_0900
 *   0000_008B   PATCH_LEVEL        PPR MSR0000_008B (read-only)       0830_107A
 *   0000_00FE   MTRRcap            APM 7.7.1                          0000_0508 (8 var, fixed, WC)
 *   0000_0174-6 SYSENTER_CS/ESP/EIP APM 6.1.1                         0
 *   0000_0179   MCG_CAP            APM 9.3.1 (read-only)              0 (no banks, no MCG_CTL)
 *   0000_017A   MCG_STATUS         APM 9.3.1                          0
 *   0000_01D9   DebugCtl           APM 13.1.1.6 (pmu.ts)              0
 *   0000_01DB-E LastBranch/IntFromIP/ToIP APM 13.1.1.7 (read-only)    0
 *   0000_0200-F MTRRphysBase0-7/Mask0-7 APM 7.7.2                     0
 *   0000_0250,58,59,68-6F MTRRfix*  APM 7.7.3                          0
 *   0000_0277   PAT                APM 7.8.1                          0007_0406_0007_0406
 *   0000_02FF   MTRRdefType        APM 7.7.4                          0
 *   C000_0080-4 EFER STAR LSTAR CSTAR SFMASK  APM 3.1.7, 6.1.1       0
 *   C000_0100-3 FS_BASE GS_BASE KernelGSbase TSC_AUX                  0
 *   C001_0000-7 PerfEvtSel0-3, PerfCtr0-3  APM 13.2.1 (pmu.ts)        0
 *   C001_0010   SYSCFG             APM 7.9.1, PPR MSRC001_0010        0074_0000
 *   C001_0015   HWCR               PPR MSRC001_0015                   0100_0010
 *   C001_0016-9 IORRBase0/Mask0, IORRBase1/Mask1  APM 7.9.2          0
 *   C001_001A   TOP_MEM            APM 7.9.3                          RAM size (8 MiB units)
 *   C001_001D   TOP_MEM2           APM 7.9.3                          0 (no RAM above 4 GiB)
 *   C001_001F   NB_CFG             PPR MSRC001_001F                   0
 *   C001_0111   SMM_BASE           APM 10.2.3                         0003_0000
 *   C001_0112   SMM_ADDR (TSEG base)   APM 10.2.5                     0
 *   C001_0113   SMM_MASK (TSEG mask)   APM 10.2.5                     0
 *   C001_0114   VM_CR              APM 15.30.1                        0
 *   C001_0117   VM_HSAVE_PA        APM 15.30.4                        0
 *   C001_0140   OSVW_ID_LENGTH     APM Vol. 2 App. A (OS-visible workarounds, CPUID 8000_0001 ECX[9])  4
 *   C001_0141   OSVW_STATUS        the same                           0 (no erratum present)
 *   C001_0200-B PERF_CTL0-5 / PERF_CTR0-5  APM 13.2.1 (pmu.ts)        0
 *   C001_1020   LS_CFG             PPR MSRC001_1020 (bit 10: SSBD)    0
 *   C001_1021   IC_CFG             PPR MSRC001_1021                   0
 *   C001_1022   DC_CFG             PPR MSRC001_1022                   0
 *   C001_1023   TW_CFG (BU_CFG)    PPR MSRC001_1023                   0
 *   C001_1029   DE_CFG             PPR MSRC001_1029 (bit 1: LFENCE dispatch-serializing)  2
 *   C001_102A   BU_CFG2            PPR MSRC001_102A                   0
 *   C001_10E3   SPECTRAL_CHICKEN   (Zen 2 chicken bits, bit 1: suppress non-branch predictions)  0
 *
 * The implementation-specific configuration MSRs (LS_CFG, IC_CFG, DC_CFG, TW_CFG, BU_CFG2,
 * SPECTRAL_CHICKEN, NB_CFG) hold all 64 bits: AMD documents only some of their bits and treats
 * the rest as reserved chicken bits that firmware and Linux read-modify-write.
 */

import type { Cpu } from './cpu.js';
import { raise } from './fault.js';
import { defineMsr, MsrClass, MsrDef } from './msr.js';
import { MAXPHYADDR } from './paging.js';
import { TWO32, Vec } from './state.js';

/** the MTRR memory types UC, WC, WT, WP, WB (2, 3 and 7 and above are reserved) */
function badType(t: number): boolean {
  return t === 2 || t === 3 || t > 6;
}

/** physical-address bits 31:12 .. MAXPHYADDR-1 of the high word allowed */
const HI_ADDR = (1 << (MAXPHYADDR - 32)) - 1;

/** HWCR bits that hold what is written (PPR MSRC001_0015): SMMLOCK 0, TLBCACHEDIS 3,
 * INVDWBINVD 4, IGNNE_EM 8, MONMWAITDIS 9, LIMITCPUIDSTDMAXVAL 10, SMISPCYCDIS 13,
 * RSMSPCYCDIS 14, Wrap32Dis 17, McStatusWrEn 18, LockTscToCurrentP0 21, CpbDis 25,
 * EffFreqCntMwait 26, EffFreqReadOnlyLock 27, IRPerfEn 30 */
const HWCR_RW = (1 << 0) | (1 << 3) | (1 << 4) | (1 << 8) | (1 << 9) | (1 << 10) | (1 << 13) | (1 << 14)
  | (1 << 17) | (1 << 18) | (1 << 21) | (1 << 25) | (1 << 26) | (1 << 27) | (1 << 30);
/** TscFreqSel (bit 24): the TSC counts at the P0 frequency, read-only 1 */
const HWCR_TSC_FREQ_SEL = 1 << 24;
const HWCR_SMMLOCK = 1;

/** number of 64-bit configuration MSRs (CONFIG_MSRS below) */
const CONFIG_MSRS_LEN = 8;

/** SYSCFG bits (APM 7.9.1): MtrrFixDramEn 18, MtrrFixDramModEn 19, MtrrVarDramEn 20,
 * MtrrTom2En 21, Tom2ForceMemTypeWB 22 (MemEncryptionModEn 23 needs SME: not advertised) */
const SYSCFG_RW = 0x7c0000;

export class AmdMsrState {
  /** MTRRphysBase0-7 and MTRRphysMask0-7, interleaved, low and high words */
  readonly varLo = new Int32Array(16);
  readonly varHi = new Int32Array(16);
  /** fixed-range MTRRs in MSR order 250, 258, 259, 268-26F */
  readonly fixLo = new Int32Array(11);
  readonly fixHi = new Int32Array(11);
  hwcr = 0x01000010;
  syscfg = 0x740000;
  /** IORRBase0, IORRMask0, IORRBase1, IORRMask1 (lo, hi) */
  readonly iorrLo = new Int32Array(4);
  readonly iorrHi = new Int32Array(4);
  /** TOP_MEM / TOP_MEM2 (addresses); TOP_MEM -1 until read: then the RAM size */
  topMem = -1;
  topMem2 = 0;
  smmBase = 0x30000;
  smmAddr = 0;
  smmMask = 0;
  mcgStatus = 0;
  osvwLength = 4;
  osvwStatus = 0;
  /** 64-bit configuration MSRs by index into CONFIG_MSRS (lo, hi) */
  readonly cfgLo = new Int32Array(CONFIG_MSRS_LEN);
  readonly cfgHi = new Int32Array(CONFIG_MSRS_LEN);
  constructor() {
    // DE_CFG bit 1: LFENCE is dispatch serializing (set on every Zen part)
    this.cfgLo[5] = 2;
  }
}

/** the microcode patch level reported in PATCH_LEVEL (a family 17h model 31h level) */
export const PATCH_LEVEL = 0x0830107a;

function gp(): never {
  return raise(Vec.GP, 0);
}

function def(index: number, name: string, read: (c: Cpu) => number,
  write: (c: Cpu, lo: number, hi: number) => void, cls: number = MsrClass.Config): void {
  defineMsr(new MsrDef(index, name, cls, read, write));
}

/** the physical-address fields of an MTRR / IORR / TSEG register: bits 51:MAXPHYADDR are #GP */
function checkAddrHi(hi: number): void {
  if ((hi & ~HI_ADDR) !== 0) gp();
}

// ---- MTRRs (APM 7.7) ----

for (let n = 0; n < 16; n++) {
  const mask = (n & 1) === 1;
  def(0x200 + n, `MTRRphys${mask ? 'Mask' : 'Base'}${n >> 1}`, (c) => { c.xh = c.amd.varHi[n]; return c.amd.varLo[n]; }, (c, lo, hi) => {
    checkAddrHi(hi);
    // base: type in 7:0, 11:8 reserved; mask: valid bit 11, 10:0 reserved
    if (mask ? (lo & 0x7ff) !== 0 : (lo & 0xf00) !== 0 || badType(lo & 0xff)) gp();
    c.amd.varLo[n] = lo;
    c.amd.varHi[n] = hi;
  }, MsrClass.Cache);
}
const FIXED = [0x250, 0x258, 0x259, 0x268, 0x269, 0x26a, 0x26b, 0x26c, 0x26d, 0x26e, 0x26f];
const FIXED_NAMES = ['64K_00000', '16K_80000', '16K_A0000', '4K_C0000', '4K_C8000', '4K_D0000', '4K_D8000', '4K_E0000', '4K_E8000', '4K_F0000', '4K_F8000'];
FIXED.forEach((index, k) => {
  def(index, `MTRRfix${FIXED_NAMES[k]}`, (c) => { c.xh = c.amd.fixHi[k]; return c.amd.fixLo[k]; }, (c, lo, hi) => {
    // eight type bytes; AMD adds RdMem/WrMem in bits 4:3 of each (SYSCFG.MtrrFixDramModEn)
    for (let s = 0; s < 32; s += 8) {
      if (badType((lo >>> s) & 7) || badType((hi >>> s) & 7) || ((lo >>> s) & 0xe0) !== 0 || ((hi >>> s) & 0xe0) !== 0) gp();
    }
    c.amd.fixLo[k] = lo;
    c.amd.fixHi[k] = hi;
  }, MsrClass.Cache);
});

// ---- PATCH_LEVEL, machine check ----

def(0x8b, 'PATCH_LEVEL', (c) => { c.xh = 0; return PATCH_LEVEL; }, () => gp());
// MCG_CAP: Count 0, no MCG_CTL (so MCG_CTL 17Bh and every MCi bank are #GP)
def(0x179, 'MCG_CAP', (c) => { c.xh = 0; return 0; }, () => gp());
// MCG_STATUS: RIPV 0, EIPV 1, MCIP 2; 63:3 reserved
def(0x17a, 'MCG_STATUS', (c) => { c.xh = 0; return c.amd.mcgStatus; }, (c, lo, hi) => {
  if (hi !== 0 || (lo & ~7) !== 0) gp();
  c.amd.mcgStatus = lo;
});

// ---- SYSCFG, HWCR, IORRs, TOP_MEM (APM 7.9) ----

def(0xc0010010, 'SYSCFG', (c) => { c.xh = 0; return c.amd.syscfg; }, (c, lo, hi) => {
  if (hi !== 0 || (lo & ~SYSCFG_RW) !== 0) gp();
  c.amd.syscfg = lo;
});

// HWCR: documented bits hold what is written, TscFreqSel reads 1, the rest read 0 and ignore
// writes; SMMLOCK once set stays set until reset (and locks SMM_ADDR, SMM_MASK, SMM_BASE)
def(0xc0010015, 'HWCR', (c) => { c.xh = 0; return c.amd.hwcr; }, (c, lo) => {
  const lock = c.amd.hwcr & HWCR_SMMLOCK;
  c.amd.hwcr = (lo & HWCR_RW) | lock | HWCR_TSC_FREQ_SEL;
});

for (let n = 0; n < 4; n++) {
  const mask = (n & 1) === 1;
  def(0xc0010016 + n, `IORR${mask ? 'Mask' : 'Base'}${n >> 1}`, (c) => { c.xh = c.amd.iorrHi[n]; return c.amd.iorrLo[n]; }, (c, lo, hi) => {
    checkAddrHi(hi);
    // base: WrMem 3, RdMem 4; mask: V 11
    if ((lo & (mask ? 0x7ff : 0xfe7)) !== 0) gp();
    c.amd.iorrLo[n] = lo;
    c.amd.iorrHi[n] = hi;
  });
}

/** TOP_MEM / TOP_MEM2: an address in bits 47:23 (8 MiB granules) */
function topWrite(lo: number, hi: number): number {
  checkAddrHi(hi);
  if ((lo & 0x7fffff) !== 0) gp();
  return (hi >>> 0) * TWO32 + (lo >>> 0);
}

function topMem(c: Cpu): number {
  if (c.amd.topMem < 0) c.amd.topMem = Math.min(Math.ceil(c.mem.size / 0x800000) * 0x800000, 0xfe000000);
  return c.amd.topMem;
}

def(0xc001001a, 'TOP_MEM', (c) => { const v = topMem(c); c.xh = Math.floor(v / TWO32); return v | 0; },
  (c, lo, hi) => { c.amd.topMem = topWrite(lo, hi); });
def(0xc001001d, 'TOP_MEM2', (c) => { const v = c.amd.topMem2; c.xh = Math.floor(v / TWO32); return v | 0; },
  (c, lo, hi) => { c.amd.topMem2 = topWrite(lo, hi); });

// ---- SMM (APM 10.2): no SMM here, the registers only hold their values ----

function smmCheck(c: Cpu): void {
  if ((c.amd.hwcr & HWCR_SMMLOCK) !== 0) gp();
}

def(0xc0010111, 'SMM_BASE', (c) => { c.xh = 0; return c.amd.smmBase; }, (c, lo, hi) => {
  smmCheck(c);
  if (hi !== 0) gp();
  c.amd.smmBase = lo >>> 0;
});
def(0xc0010112, 'SMM_ADDR', (c) => { const v = c.amd.smmAddr; c.xh = Math.floor(v / TWO32); return v | 0; }, (c, lo, hi) => {
  smmCheck(c);
  checkAddrHi(hi);
  if ((lo & 0x1ffff) !== 0) gp();
  c.amd.smmAddr = (hi >>> 0) * TWO32 + (lo >>> 0);
});
// SMM_MASK: AValid 0, TValid 1, AClose 2, TClose 3, memory types in 14:8, mask in 47:17; 7:5, 16:15 reserved
def(0xc0010113, 'SMM_MASK', (c) => { const v = c.amd.smmMask; c.xh = Math.floor(v / TWO32); return v | 0; }, (c, lo, hi) => {
  smmCheck(c);
  checkAddrHi(hi);
  if ((lo & 0x180e0) !== 0) gp();
  c.amd.smmMask = (hi >>> 0) * TWO32 + (lo >>> 0);
});

// ---- OS-visible workarounds: four errata IDs known, none present ----

def(0xc0010140, 'OSVW_ID_LENGTH', (c) => { c.xh = 0; return c.amd.osvwLength; }, (c, lo, hi) => {
  if (hi !== 0 || (lo & ~0xffff) !== 0) gp();
  c.amd.osvwLength = lo;
});
def(0xc0010141, 'OSVW_STATUS', (c) => { c.xh = 0; return c.amd.osvwStatus; }, (c, lo, hi) => {
  if (hi !== 0) gp();
  c.amd.osvwStatus = lo >>> 0;
});

// ---- implementation-specific configuration (all 64 bits held) ----

const CONFIG_MSRS: [number, string][] = [
  [0xc001001f, 'NB_CFG'], [0xc0011020, 'LS_CFG'], [0xc0011021, 'IC_CFG'], [0xc0011022, 'DC_CFG'],
  [0xc0011023, 'TW_CFG'], [0xc0011029, 'DE_CFG'], [0xc001102a, 'BU_CFG2'], [0xc00110e3, 'SPECTRAL_CHICKEN'],
];
if (CONFIG_MSRS.length !== CONFIG_MSRS_LEN) throw new Error('msr-amd: CONFIG_MSRS_LEN');
CONFIG_MSRS.forEach(([index, name], k) => {
  def(index, name, (c) => { c.xh = c.amd.cfgHi[k]; return c.amd.cfgLo[k]; }, (c, lo, hi) => {
    c.amd.cfgLo[k] = lo;
    c.amd.cfgHi[k] = hi;
  });
});
