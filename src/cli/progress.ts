/**
 * Progress for long commands: a bar on a terminal (after the first second), plain lines when
 * stderr is not a terminal or CI is set.
 */

export class Progress {
  private readonly tty = process.stderr.isTTY === true && !process.env.CI;
  private readonly start = Date.now();
  private lastLine = '';

  constructor(private readonly what: string) {}

  update(done: number, total: number, detail = ''): void {
    if (this.tty) {
      if (Date.now() - this.start < 1000 && done < total) return;
      const w = 24;
      const fill = Math.round((w * done) / Math.max(1, total));
      process.stderr.write(`\r${this.what} [${'#'.repeat(fill)}${' '.repeat(w - fill)}] ${done}/${total} ${detail}`.padEnd(80));
      if (done >= total) process.stderr.write('\r'.padEnd(81) + '\r');
      return;
    }
    const line = `${this.what}: ${done}/${total}${detail ? ` ${detail}` : ''}`;
    if (line !== this.lastLine && done < total) process.stderr.write(line + '\n');
    this.lastLine = line;
  }
}
