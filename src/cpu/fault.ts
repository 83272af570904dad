/**
 * The one abort path: an exception raised while executing an instruction throws this single
 * preallocated object, and only the run loop catches it. Nothing is allocated per fault.
 */

export class CpuFault {
  vector = 0;
  errorCode = 0;
  hasErrorCode = false;
  /** for #PF: the faulting linear address (goes to CR2 on delivery) */
  address = 0;
}

export const FAULT = new CpuFault();

/** vectors that push an error code (APM Vol. 2 8.2) */
export const ERROR_CODE_VECTORS = (1 << 8) | (1 << 10) | (1 << 11) | (1 << 12) | (1 << 13) | (1 << 14) | (1 << 17) | (1 << 21) | (1 << 29) | (1 << 30);

export function raise(vector: number, errorCode = 0): never {
  FAULT.vector = vector;
  FAULT.errorCode = errorCode;
  FAULT.hasErrorCode = ((ERROR_CODE_VECTORS >>> vector) & 1) === 1 && vector < 32;
  FAULT.address = 0;
  throw FAULT;
}

export function raisePf(address: number, errorCode: number): never {
  FAULT.vector = 14;
  FAULT.errorCode = errorCode;
  FAULT.hasErrorCode = true;
  FAULT.address = address;
  throw FAULT;
}

/**
 * Thrown after a #VMEXIT taken inside an instruction (an intercept): the world switch is
 * complete, and the run loop just goes on with the host. Preallocated, like FAULT.
 */
export class VmexitAbort {}
export const VMEXIT_ABORT = new VmexitAbort();
