export function initImage(): void {}
