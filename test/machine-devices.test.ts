import { describe, expect, it } from 'vitest';
import { IoBus, Width, type PortDevice } from '../src/machine/iobus.js';
import { LegacyPic } from '../src/machine/pic.js';
import { Uart16550 } from '../src/machine/uart16550.js';
import { DebugExit } from '../src/machine/debugexit.js';
import { Scheduler } from '../src/machine/scheduler.js';

describe('port bus', () => {
  it('reads unknown ports as all-ones for the size and counts each access once', () => {
    const bus = new IoBus();
    expect(bus.portIn(0x80, 1)).toBe(0xff);
    expect(bus.portIn(0x80, 2)).toBe(0xffff);
    expect(bus.portIn(0x80, 4)).toBe(0xffffffff);
    bus.portOut(0x80, 1, 0x12);
    bus.portOut(0x1234, 4, 0xdeadbeef);
    expect(bus.unknownReads.get(0x80)).toBe(3);
    expect(bus.unknownReads.get(0x81)).toBeUndefined();
    expect(bus.unknownWrites.get(0x80)).toBe(1);
    expect(bus.unknownPorts()).toEqual([
      { port: 0x80, reads: 3, writes: 1 },
      { port: 0x1234, reads: 0, writes: 1 },
    ]);
  });

  it('routes by port and splits widths a device does not decode into bytes', () => {
    const bus = new IoBus();
    const log: string[] = [];
    const dev: PortDevice = {
      ioRead: (p, s) => { log.push(`r${p.toString(16)}/${s}`); return p & 0xff; },
      ioWrite: (p, s, v) => { log.push(`w${p.toString(16)}/${s}=${v.toString(16)}`); },
    };
    bus.register(0x100, 2, dev, Width.B);
    expect(bus.portIn(0x100, 2)).toBe(0x0100);
    bus.portOut(0x100, 2, 0xabcd);
    expect(log).toEqual(['r100/1', 'r101/1', 'w100/1=cd', 'w101/1=ab']);
    // a dword at 0x100 covers two unclaimed ports: those bytes float high
    expect(bus.portIn(0x100, 4)).toBe(0xffff0100);
    expect(() => bus.register(0x101, 1, dev)).toThrow(/already taken/);
    const wide: PortDevice = { ioRead: (_p, s) => (s === 4 ? 0x89abcdef : 0), ioWrite: () => {} };
    bus.register(0x200, 4, wide, Width.All);
    expect(bus.portIn(0x200, 4)).toBe(0x89abcdef);
  });

  it('remembers PIC masks and follows the initialisation sequence', () => {
    const bus = new IoBus();
    const pic = new LegacyPic();
    bus.register(0x20, 2, pic);
    bus.register(0xa0, 2, pic);
    bus.portOut(0x21, 1, 0xfb);
    bus.portOut(0xa1, 1, 0xff);
    expect(bus.portIn(0x21, 1)).toBe(0xfb);
    expect(bus.portIn(0xa1, 1)).toBe(0xff);
    // ICW1 (cascade, ICW4 needed), ICW2 vector base, ICW3, ICW4, then OCW1
    bus.portOut(0x20, 1, 0x11);
    expect(pic.master.mask).toBe(0);
    bus.portOut(0x21, 1, 0x20);
    bus.portOut(0x21, 1, 0x04);
    bus.portOut(0x21, 1, 0x01);
    expect(pic.master.vectorBase).toBe(0x20);
    expect(bus.portIn(0x21, 1)).toBe(0);
    bus.portOut(0x21, 1, 0xfe);
    expect(bus.portIn(0x21, 1)).toBe(0xfe);
    expect(bus.portIn(0x20, 1)).toBe(0);
    expect(bus.unknownPorts()).toEqual([]);
  });
});

function uartOnBus() {
  const bus = new IoBus();
  const irq: boolean[] = [];
  const uart = new Uart16550({ onIrq: (l) => irq.push(l) });
  bus.register(0x3f8, 8, uart);
  const rd = (r: number) => bus.portIn(0x3f8 + r, 1);
  const wr = (r: number, v: number) => bus.portOut(0x3f8 + r, 1, v);
  return { bus, uart, irq, rd, wr };
}

describe('16550 UART', () => {
  it('sends THR bytes to the output and reads idle registers as after reset', () => {
    const { uart, rd, wr } = uartOnBus();
    for (const ch of 'PASS: é\n') for (const b of new TextEncoder().encode(ch)) wr(0, b);
    expect(uart.output()).toBe('PASS: é\n');
    expect(rd(5)).toBe(0x60); // THRE | TEMT, no data
    expect(rd(2)).toBe(0x01); // no interrupt pending, FIFOs off
    expect(rd(1)).toBe(0);
    expect(rd(6)).toBe(0xb0); // CTS, DSR, DCD asserted
    const sent: number[] = [];
    const u2 = new Uart16550({ onTx: (b) => sent.push(b) });
    u2.ioWrite(0x3f8, 1, 0x41);
    expect(sent).toEqual([0x41]);
    expect(u2.output()).toBe('');
  });

  it('receives queued input with DR and reads 0 when empty', () => {
    const { uart, rd } = uartOnBus();
    uart.queueInput('hi');
    expect(rd(5) & 1).toBe(1);
    expect(rd(0)).toBe(0x68);
    expect(rd(0)).toBe(0x69);
    expect(rd(5)).toBe(0x60);
    expect(rd(0)).toBe(0);
  });

  it('switches offsets 0 and 1 to the divisor latch with DLAB', () => {
    const { uart, rd, wr } = uartOnBus();
    wr(3, 0x83);
    wr(0, 0x01);
    wr(1, 0x00);
    expect(rd(0)).toBe(0x01);
    expect(rd(1)).toBe(0x00);
    expect(uart.output()).toBe('');
    wr(3, 0x03);
    expect(rd(3)).toBe(0x03);
    wr(1, 0xff);
    expect(rd(1)).toBe(0x0f); // IER bits 7:4 read 0
    expect(uart.dll).toBe(1);
  });

  it('raises THRE and RX interrupts by priority, gated onto the IRQ line by OUT2', () => {
    const { uart, irq, rd, wr } = uartOnBus();
    wr(1, 0x02); // ETBEI with THR empty: THRE interrupt at once
    expect(rd(2)).toBe(0x02);
    expect(irq).toEqual([]); // OUT2 clear: the line stays low
    wr(0, 0x41); // a write re-arms it (the byte is sent at once)
    wr(4, 0x08); // OUT2
    expect(irq).toEqual([true]);
    expect(rd(2)).toBe(0x02); // reading IIR that reports THRE clears it
    expect(rd(2)).toBe(0x01);
    expect(irq).toEqual([true, false]);
    wr(1, 0x03);
    uart.queueInput('x');
    wr(0, 0x42);
    expect(rd(2)).toBe(0x04); // received data outranks THRE
    expect(rd(0)).toBe(0x78);
    expect(rd(2)).toBe(0x02);
    expect(rd(2)).toBe(0x01);
    wr(1, 0);
    expect(uart.irqLevel).toBe(false);
  });

  it('reports FIFO mode in IIR, the trigger level and the character timeout', () => {
    const { uart, rd, wr } = uartOnBus();
    wr(2, 0x41); // FIFO on, trigger 4
    wr(1, 0x01);
    expect(rd(2)).toBe(0xc1);
    uart.queueInput('ab');
    expect(rd(2)).toBe(0xcc); // below the trigger level: timeout
    uart.queueInput('cd');
    expect(rd(2)).toBe(0xc4);
    wr(2, 0x43); // clear RX FIFO
    expect(rd(5) & 1).toBe(0);
    uart.queueInput('0123456789abcdefXY'); // 18 bytes: 16 arrive, 2 wait
    wr(2, 0x03);
    expect(uart.inputPending).toBe(2);
    expect(String.fromCharCode(rd(0), rd(0))).toBe('XY');
    wr(2, 0x00); // FIFOs off
    expect(rd(2)).toBe(0x01);
  });

  it('loops THR back to RBR and the modem outputs to MSR in loopback', () => {
    const { uart, irq, rd, wr } = uartOnBus();
    wr(4, 0x1a); // LOOP | OUT2 | RTS: the classic probe
    expect(rd(6) & 0xf0).toBe(0x90);
    wr(4, 0x1f);
    expect(rd(6)).toBe(0xf2); // CTS, DSR, RI, DCD; DDSR: DSR rose since the last read
    wr(1, 0x01);
    wr(0, 0x5a);
    expect(uart.output()).toBe('');
    expect(rd(2)).toBe(0x04);
    expect(irq).toEqual([]); // loopback forces OUT2 inactive
    expect(rd(0)).toBe(0x5a);
    wr(4, 0x0b); // back to normal; RI fell: TERI
    expect(rd(6) & 0x0f).toBe(0x04);
    expect(rd(6)).toBe(0xb0);
    wr(7, 0x3c);
    expect(rd(7)).toBe(0x3c);
  });

  it('raises a modem-status interrupt on a delta when EDSSI is set', () => {
    const { rd, wr } = uartOnBus();
    wr(1, 0x08);
    expect(rd(2)).toBe(0x01);
    wr(4, 0x10); // loopback with all outputs low: CTS, DSR, DCD fall
    expect(rd(2)).toBe(0x00);
    expect(rd(6)).toBe(0x0b);
    expect(rd(2)).toBe(0x01);
  });
});

describe('debug-exit port', () => {
  it('turns a write of v into status (v << 1) | 1, any width', () => {
    const bus = new IoBus();
    const seen: number[] = [];
    const dev = new DebugExit((s) => seen.push(s));
    bus.register(0xf4, 4, dev, Width.All);
    bus.portOut(0xf4, 1, 0x10);
    bus.portOut(0xf4, 4, 0);
    bus.portOut(0xf4, 4, 0xffffffff);
    expect(seen).toEqual([0x21, 1, 0x1ffffffff]);
    expect(dev.status).toBe(0x1ffffffff);
    expect(bus.portIn(0xf4, 1)).toBe(0xff);
  });
});

describe('scheduler', () => {
  it('fires armed events in time order and re-arms', () => {
    const s = new Scheduler();
    const log: string[] = [];
    const a = s.register((due, now) => { log.push(`a${due}@${now}`); if (due < 300) s.arm(a, due + 100); });
    const b = s.register((due) => log.push(`b${due}`));
    s.arm(a, 100);
    s.arm(b, 150);
    expect(s.next()).toBe(100);
    s.advanceTo(99);
    expect(log).toEqual([]);
    s.advanceTo(250);
    expect(log).toEqual(['a100@250', 'b150', 'a200@250']);
    expect(s.next()).toBe(300);
    s.disarm(a);
    expect(s.next()).toBe(Infinity);
  });
});
