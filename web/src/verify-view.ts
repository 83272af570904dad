export function initVerify(): void {}
