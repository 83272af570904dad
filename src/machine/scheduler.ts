/**
 * Timed device events on the machine's cycle clock.
 *
 * Time is the CPU's cycle counter (the TSC source), but devices never see the CPU: the machine
 * installs `clock` (a function returning the current cycle) and calls `runDue` between CPU
 * slices; `next()` tells it how far the CPU may run before a device needs attention. Standalone
 * (in tests) the clock is the scheduler's own `time`, moved with `advanceTo`.
 *
 * Event slots are registered once at setup (one per device timer) and then only armed and
 * disarmed, so nothing is allocated while the machine runs. There are few slots (a handful of
 * devices), so a linear scan beats a heap.
 */

/** called when an armed event is due: `due` is the cycle it was armed for, `now` the clock */
export type EventHandler = (due: number, now: number) => void;

const MAX_EVENTS = 64;

export class Scheduler {
  /** the standalone clock (used when no machine installs one) */
  time = 0;
  /** current cycle; the machine replaces this with one that reads the CPU's cycle counter */
  clock: () => number = () => this.time;
  private readonly due = new Float64Array(MAX_EVENTS).fill(Infinity);
  private readonly handlers: EventHandler[] = [];
  /** cached earliest due time (Infinity when nothing is armed) */
  private earliest = Infinity;

  /** current cycle */
  now(): number {
    return this.clock();
  }

  /** Register an event slot (at setup); returns its id for `arm` and `disarm`. */
  register(handler: EventHandler): number {
    if (this.handlers.length === MAX_EVENTS) throw new Error('scheduler: too many event slots');
    this.handlers.push(handler);
    return this.handlers.length - 1;
  }

  /** Arm event `id` to fire at cycle `at` (replacing any earlier arming). */
  /** told when an event is armed (the machine shortens the CPU's current slice) */
  onArm: (at: number) => void = () => {};

  arm(id: number, at: number): void {
    this.onArm(at);
    this.due[id] = at;
    if (at < this.earliest) this.earliest = at;
    else this.recompute();
  }

  disarm(id: number): void {
    if (this.due[id] === Infinity) return;
    this.due[id] = Infinity;
    this.recompute();
  }

  /** cycle at which event `id` is armed, or Infinity */
  dueAt(id: number): number {
    return this.due[id];
  }

  /** earliest armed event, or Infinity */
  next(): number {
    return this.earliest;
  }

  /**
   * Fire every event due at or before `now`, earliest first. A handler may re-arm its own slot
   * (periodic timers); one that re-arms at or before `now` fires again in the same call.
   */
  runDue(now: number): void {
    while (this.earliest <= now) {
      let id = 0;
      for (let k = 1; k < this.handlers.length; k++) if (this.due[k] < this.due[id]) id = k;
      const at = this.due[id];
      this.due[id] = Infinity;
      this.recompute();
      this.handlers[id](at, now);
    }
  }

  /** standalone use: move the scheduler's own clock forward and fire what is due */
  advanceTo(t: number): void {
    if (t > this.time) this.time = t;
    this.runDue(this.time);
  }

  private recompute(): void {
    let m = Infinity;
    for (let k = 0; k < this.handlers.length; k++) if (this.due[k] < m) m = this.due[k];
    this.earliest = m;
  }
}
