export function initStepper(): void {}
