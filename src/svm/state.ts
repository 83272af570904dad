/**
 * SVM state of one CPU that is not in the VMCB: GIF, whether the CPU runs a guest, and the
 * guest's controls, cached from the VMCB at VMRUN (APM Vol. 2 15.5.1: the processor reads the
 * control area at VMRUN; changes to it while the guest runs have no defined effect).
 */

export class SvmState {
  /** global interrupt flag (APM Vol. 2 15.17); 1 at reset */
  gif = true;
  /** running a guest (between VMRUN and #VMEXIT) */
  guest = false;
  /** physical address of the guest's VMCB */
  vmcb = 0;
  /** intercept words: 0 CR (reads 15:0, writes 31:16), 1 DR, 2 exceptions, 3 misc1, 4 misc2 */
  readonly intercepts = new Int32Array(5);
  iopm = 0;
  msrpm = 0;
  tscOffLo = 0;
  tscOffHi = 0;
  asid = 0;
  // virtual interrupt controls (int_ctl at 060h)
  vTpr = 0;
  vIrq = false;
  vIntrPrio = 0;
  vIgnTpr = false;
  vIntrMasking = false;
  vIntrVector = 0;
  /** host RFLAGS.IF at VMRUN: gates physical interrupts while V_INTR_MASKING = 1 */
  hostIf = false;
  /** nested paging */
  np = false;
  nCr3 = 0;
  gPatLo = 0;
  gPatHi = 0;
  /** host EFER at VMRUN (nested page tables use the host's NXE) */
  hostEfer = 0;
  /** host CR4 at VMRUN (its SMEP decides the #NPF I/D bit) */
  hostCr4 = 0;
  /** host PAT while a guest with nested paging runs */
  hostPatLo = 0;
  hostPatHi = 0;
  /**
   * The event being delivered (EVENTINJ format, 0 when none): if its delivery is cut short by
   * an intercept, #VMEXIT reports it in EXITINTINFO (APM Vol. 2 15.7.2).
   */
  delivering = 0;
  deliveringErr = 0;
  /** VGIF (APM Vol. 2 ch. 15, "Virtual GIF"): int_ctl V_GIF_ENABLE, and the guest's virtual GIF */
  vgifOn = false;
  vgif = false;
  /**
   * vNMI (int_ctl V_NMI_ENABLE, APM Vol. 2 15.21, "NMI Virtualization"): a virtual NMI waits in V_NMI_PENDING; while
   * the guest runs, V_NMI_BLOCKING is the CPU's NMI blocking (set by the virtual NMI's delivery,
   * cleared by IRET), and the host's blocking is kept aside
   */
  vnmiOn = false;
  vnmiPending = false;
  hostNmiBlocked = false;
  /** GMET (nested_ctl bit 3): supervisor fetches from user nested pages fault */
  gmet = false;
  /** V_VMSAVE_VMLOAD (virt_ext bit 1): the guest's VMSAVE/VMLOAD use guest-physical rAX */
  vVmsave = false;
  /** the pause filter: PAUSEs left before the intercept, the threshold (cycles) and the last PAUSE */
  pauseCount = 0;
  pauseThreshold = 0;
  pauseLast = 0;
  /** LBR virtualization (virt_ext bit 0) and the host's DebugCtl and LBR MSRs while it runs */
  lbrVirt = false;
  readonly hostLbr = new Float64Array(5);
  /** TSC_RATIO MSR (C000_0104h): 8.32 fixed point, 1.0 at reset */
  tscRatioLo = 0;
  tscRatioHi = 1;
  /**
   * VMCB clean bits: the VMCB at cachePa as this CPU left it at its last #VMEXIT (-1: none);
   * VMRUN of the same VMCB may take a clean group from here (APM Vol. 2 15.15, "VMCB State Caching")
   */
  cachePa = -1;
  /** the VMCB being run had clean bits set (then #VMEXIT fills the cache) */
  cleanUsed = false;
  readonly cacheW = new Int32Array(1024);
  /** the host's RFLAGS.TF at VMRUN: VMRUN's single-step trap is taken on the host after #VMEXIT */
  hostStep = false;
  /** #VMEXITs taken, by exit code (statistics) */
  readonly exits = new Map<number, number>();
  /** world switches (VMRUNs that entered a guest) */
  vmruns = 0;
}
