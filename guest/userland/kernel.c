/*
 * A minimal Linux x86-64 system-call ABI that runs one static ELF64 executable at CPL 3: the
 * program is the first multiboot module (its string is its command line: argv; the kernel
 * command line's env=NAME=VALUE words are added to its environment after LANG=C), loaded by its
 * PT_LOAD segments into page-table mappings of its own, entered with the System V process stack
 * (argc, argv, envp, the auxiliary vector), served through SYSCALL/SYSRET until exit_group.
 *
 * COM1 transcript (test/userland.test.ts reads it):
 *   USER-BEGIN                       then the program's write()s to fd 1 and 2, byte for byte
 *   USER-END status=S bytes=N        (after a newline); or USER-FAULT ... when an exception
 *                                    stopped the program
 *   note: ...                        system calls answered -ENOSYS, with counts
 *   PASS: static_elf / FAIL: static_elf (detail), SUMMARY as for every test kernel
 *
 * Address space (rt.h's identity map is the kernel's; this kernel changes it as follows):
 *   [4 MiB, 64 MiB)       user: the ELF image and the brk heap (a static PIE and its heap go
 *                         to ET_DYN_BASE instead); the identity 2 MiB pages here
 *                         are removed, the range is mapped with 4 KiB pages from the pool
 *   [64 MiB, end of RAM)  the frame pool (page tables and user frames), reached identity-mapped
 *   [4 GiB, 128 TiB)      user: anonymous mmap (from MMAP_BASE up) and the stack (below
 *                         STACK_TOP)
 *   every other identity page becomes supervisor-only, so a stray user access is a #PF.
 * Nothing is paged on demand: every mapping gets zeroed frames when it is made. A PTE of a
 * mapped page carries PTE_SW_MAPPED (an available bit, APM Vol. 2, 5.4.1) so that PROT_NONE
 * pages (P=0) still remember their frame.
 *
 * The program's x87/SSE state is the processor's: the kernel is built -mgeneral-regs-only and
 * never touches it, so one process needs no FXSAVE/XSAVE.
 */
#include "rt.h"

const char kernel_name[] = "userland";

#define USER_LO_START 0x00400000ul
#define USER_LO_END 0x04000000ul
#define POOL_START USER_LO_END
#define USER_HI_START 0x100000000ul
#define USER_TOP 0x800000000000ul
#define MMAP_BASE 0x7f0000000000ul
#define STACK_TOP 0x7ffffffff000ul
#define STACK_SIZE (1ul << 20)
#define ET_DYN_BASE 0x555555554000ul
#define BRK_MAX (64ul << 20)
#define PTE_SW_MAPPED (UL(1) << 9)
#define PAGE 4096ul

#define CR0_MP (UL(1) << 1)
#define CR0_EM (UL(1) << 2)
#define CR0_TS (UL(1) << 3)
#define CR0_NE (UL(1) << 5)
#define CR4_OSFXSR (UL(1) << 9)
#define CR4_OSXMMEXCPT (UL(1) << 10)
#define CR4_OSXSAVE (UL(1) << 18)

/* Linux errno values */
#define EPERM 1
#define ENOENT 2
#define EBADF 9
#define ENOMEM 12
#define EFAULT 14
#define EINVAL 22
#define ENOTTY 25
#define ENOSYS 38

extern u8 __bss_end[];
extern u8 uland_syscall_entry[];
extern u64 uland_exit_status;
long uland_enter(u64 rip, u64 rsp);

/* ---- the frame pool and the page tables ---- */
static u64 pool_next, pool_end;
static int nx_ok;

static void zero_page(u64 pa) {
  u64 n = PAGE / 8;
  asm volatile("rep stosq" : "+D"(pa), "+c"(n) : "a"(0ul) : "memory");
}

static void copy_bytes(u64 dst, u64 src, u64 n) {
  asm volatile("rep movsb" : "+D"(dst), "+S"(src), "+c"(n) :: "memory");
}

static u64 alloc_frame(void) {
  if (pool_next + PAGE > pool_end) return 0;
  u64 pa = pool_next;
  pool_next += PAGE;
  zero_page(pa);
  return pa;
}

static int is_user_range(u64 va, u64 len) {
  u64 end = va + len;
  if (end < va) return 0;
  return (va >= USER_LO_START && end <= USER_LO_END) || (va >= USER_HI_START && end <= USER_TOP);
}

/* the PTE of va (NULL if a table is missing and !create, or the pool is empty); only for user
 * addresses, whose tables never hold 2 MiB pages */
static volatile u64 *walk(u64 va, int create) {
  volatile u64 *t = pml4;
  for (int level = 3; level > 0; level--) {
    u64 idx = (va >> (12 + 9 * level)) & 511;
    if (!(t[idx] & PTE_P)) {
      if (!create) return NULL;
      u64 f = alloc_frame();
      if (!f) return NULL;
      t[idx] = f | PTE_P | PTE_W | PTE_U;
    } else if (t[idx] & PTE_PS) {
      return NULL;
    }
    t = (volatile u64 *)(t[idx] & PTE_ADDR);
  }
  return &t[(va >> 12) & 511];
}

/* PROT_READ 1, PROT_WRITE 2, PROT_EXEC 4 as PTE bits (x86 pages are always readable when
 * present; PROT_NONE is a mapped page with P=0) */
static u64 prot_bits(u64 prot) {
  if ((prot & 7) == 0) return PTE_SW_MAPPED;
  u64 b = PTE_P | PTE_U | PTE_SW_MAPPED;
  if (prot & 2) b |= PTE_W;
  if (!(prot & 4) && nx_ok) b |= PTE_NX;
  return b;
}
#define PERM_BITS (PTE_P | PTE_W | PTE_U | PTE_NX | PTE_SW_MAPPED)

/* map [va, va+len) (page-aligned) to fresh zeroed frames; an already mapped page keeps its
 * frame and gains the permissions (two PT_LOAD segments may share a page) */
static int map_range(u64 va, u64 len, u64 bits) {
  for (u64 p = va; p < va + len; p += PAGE) {
    volatile u64 *pte = walk(p, 1);
    if (!pte) return -ENOMEM;
    if (*pte & PTE_SW_MAPPED) {
      u64 old = *pte;
      *pte = (old & PTE_ADDR) | ((old | bits) & (PTE_P | PTE_W | PTE_U | PTE_SW_MAPPED)) |
             (old & bits & PTE_NX);
      continue;
    }
    u64 f = alloc_frame();
    if (!f) return -ENOMEM;
    *pte = f | bits;
  }
  return 0;
}

static void flush_tlb(void) { write_cr3(read_cr3()); }

/* the physical address of user va, or 0 when not mapped */
static u64 user_phys(u64 va) {
  volatile u64 *pte = walk(va & ~(PAGE - 1), 0);
  if (!pte || !(*pte & PTE_SW_MAPPED)) return 0;
  return (*pte & PTE_ADDR) | (va & (PAGE - 1));
}

/* may the program's buffer [va, va+len) be read (or written) by it? */
static int user_ok(u64 va, u64 len, int write) {
  if (len == 0) return 1;
  if (!is_user_range(va, len)) return 0;
  for (u64 p = va & ~(PAGE - 1); p < va + len; p += PAGE) {
    volatile u64 *pte = walk(p, 0);
    if (!pte || (*pte & (PTE_P | PTE_U)) != (PTE_P | PTE_U)) return 0;
    if (write && !(*pte & PTE_W)) return 0;
  }
  return 1;
}

/* copy into user memory through the frames (the pages may be read-only to the program) */
static int poke_user(u64 va, const void *src, u64 n) {
  const u8 *s = src;
  while (n) {
    u64 pa = user_phys(va);
    if (!pa) return -EFAULT;
    u64 chunk = PAGE - (va & (PAGE - 1));
    if (chunk > n) chunk = n;
    copy_bytes(pa, (u64)s, chunk);
    va += chunk, s += chunk, n -= chunk;
  }
  return 0;
}

/* ---- the process ---- */
static u64 brk_start, brk_cur, brk_limit, mmap_next, entry;
static u64 out_bytes, rng_state, fake_ns;
static struct { u64 nr, count; } enosys[16];
static int n_enosys;

static void uart_raw(u8 c) {
  while (!(inb(0x3f8 + 5) & 0x20)) {
  }
  outb(0x3f8, c);
}

static u64 rng(void) {
  u64 x = rng_state;
  x ^= x << 13, x ^= x >> 7, x ^= x << 17;
  return rng_state = x;
}

static long sys_write(u64 fd, u64 buf, u64 n) {
  if (fd != 1 && fd != 2) return -EBADF;
  if (!user_ok(buf, n, 0)) return -EFAULT;
  const u8 *p = (const u8 *)buf;
  for (u64 i = 0; i < n; i++) uart_raw(p[i]);
  out_bytes += n;
  return (long)n;
}

static long sys_writev(u64 fd, u64 iov, u64 cnt) {
  if (cnt > 1024) return -EINVAL;
  if (!user_ok(iov, cnt * 16, 0)) return -EFAULT;
  const u64 *v = (const u64 *)iov;
  for (u64 i = 0; i < cnt; i++) {
    if (!user_ok(v[2 * i], v[2 * i + 1], 0)) return -EFAULT;
  }
  long total = 0;
  for (u64 i = 0; i < cnt; i++) {
    long r = sys_write(fd, v[2 * i], v[2 * i + 1]);
    if (r < 0) return r;
    total += r;
  }
  return total;
}

/* brk(addr): Linux returns the new break, or the old one when the request is refused */
static long sys_brk(u64 addr) {
  if (addr < brk_start || addr > brk_limit) return (long)brk_cur;
  u64 old_end = (brk_cur + PAGE - 1) & ~(PAGE - 1), new_end = (addr + PAGE - 1) & ~(PAGE - 1);
  if (new_end > old_end) {
    if (map_range(old_end, new_end - old_end, prot_bits(3)) < 0) return (long)brk_cur;
  } else {
    for (u64 p = new_end; p < old_end; p += PAGE) {
      volatile u64 *pte = walk(p, 0);
      if (pte) *pte = 0;
    }
    flush_tlb();
  }
  brk_cur = addr;
  return (long)brk_cur;
}

#define MAP_PRIVATE 0x02
#define MAP_FIXED 0x10
#define MAP_ANONYMOUS 0x20
#define MAP_TYPE 0x0f

static long sys_mmap(u64 addr, u64 len, u64 prot, u64 flags, u64 fd, u64 off) {
  (void)addr;
  if (len == 0 || (flags & MAP_TYPE) != MAP_PRIVATE || (off & (PAGE - 1))) return -EINVAL;
  if (!(flags & MAP_ANONYMOUS) || (long)fd != -1) return -EBADF;   /* no files */
  if (flags & MAP_FIXED) return -EINVAL;                          /* not needed by glibc */
  if (len > USER_TOP) return -ENOMEM;
  len = (len + PAGE - 1) & ~(PAGE - 1);
  if (len > STACK_TOP - STACK_SIZE - mmap_next) return -ENOMEM;
  u64 va = mmap_next;
  long r = map_range(va, len, prot_bits(prot));
  if (r < 0) return r;
  mmap_next += len + PAGE;  /* a guard page between mappings */
  return (long)va;
}

static long sys_munmap(u64 addr, u64 len) {
  if ((addr & (PAGE - 1)) || len == 0 || !is_user_range(addr, len)) return -EINVAL;
  len = (len + PAGE - 1) & ~(PAGE - 1);
  for (u64 p = addr; p < addr + len;) {
    volatile u64 *pte = walk(p, 0);
    if (!pte) {   /* no page table here: skip to the next 2 MiB */
      p = (p | ((1ul << 21) - 1)) + 1;
      continue;
    }
    *pte = 0;     /* the frame is not reused: one short-lived process */
    p += PAGE;
  }
  flush_tlb();
  return 0;
}

static long sys_mprotect(u64 addr, u64 len, u64 prot) {
  if ((addr & (PAGE - 1)) || !is_user_range(addr, len)) return -EINVAL;
  len = (len + PAGE - 1) & ~(PAGE - 1);
  for (u64 p = addr; p < addr + len; p += PAGE) {
    volatile u64 *pte = walk(p, 0);
    if (!pte || !(*pte & PTE_SW_MAPPED)) return -ENOMEM;
  }
  for (u64 p = addr; p < addr + len; p += PAGE) {
    volatile u64 *pte = walk(p, 0);
    *pte = (*pte & PTE_ADDR) | prot_bits(prot);
  }
  flush_tlb();
  return 0;
}

#define ARCH_SET_GS 0x1001
#define ARCH_SET_FS 0x1002
#define ARCH_GET_FS 0x1003
#define ARCH_GET_GS 0x1004

static long sys_arch_prctl(u64 code, u64 addr) {
  switch (code) {
  case ARCH_SET_FS:
    if (addr >= USER_TOP) return -EPERM;
    wrmsr(MSR_FS_BASE, addr);
    return 0;
  case ARCH_SET_GS:   /* the user's GS base waits in KERNEL_GS_BASE until SWAPGS on exit */
    if (addr >= USER_TOP) return -EPERM;
    wrmsr(MSR_KERNEL_GS_BASE, addr);
    return 0;
  case ARCH_GET_FS:
  case ARCH_GET_GS: {
    if (!user_ok(addr, 8, 1)) return -EFAULT;
    *(u64 *)addr = rdmsr(code == ARCH_GET_FS ? MSR_FS_BASE : MSR_KERNEL_GS_BASE);
    return 0;
  }
  }
  return -EINVAL;
}

static long sys_uname(u64 buf) {
  static const char *const f[6] = { "Linux", "worldswitch", "6.1.0", "#1 SMP worldswitch",
                                     "x86_64", "(none)" };
  if (!user_ok(buf, 6 * 65, 1)) return -EFAULT;
  char *p = (char *)buf;
  memset(p, 0, 6 * 65);
  for (int i = 0; i < 6; i++) memcpy(p + 65 * i, f[i], strlen(f[i]));
  return 0;
}

/* struct stat (x86-64): a character device for fds 0..2 */
static long fill_stat(u64 fd, u64 buf) {
  if (fd > 2) return -EBADF;
  if (!user_ok(buf, 144, 1)) return -EFAULT;
  u8 *p = (u8 *)buf;
  memset(p, 0, 144);
  *(u64 *)(p + 0) = 0x16;                        /* st_dev */
  *(u64 *)(p + 8) = 3 + fd;                      /* st_ino */
  *(u64 *)(p + 16) = 1;                          /* st_nlink */
  *(u32 *)(p + 24) = 0020000 | 0620;             /* st_mode: S_IFCHR, rw--w---- */
  *(u64 *)(p + 40) = (136ul << 8) | 0;           /* st_rdev: /dev/pts/0 */
  *(u64 *)(p + 56) = 1024;                       /* st_blksize */
  return 0;
}

#define AT_EMPTY_PATH 0x1000

static long sys_newfstatat(u64 dirfd, u64 path, u64 buf, u64 flags) {
  if (!user_ok(path, 1, 0)) return -EFAULT;
  if (*(const char *)path != 0) return -ENOENT;
  if (!(flags & AT_EMPTY_PATH)) return -ENOENT;
  return fill_stat(dirfd, buf);
}

static long sys_prlimit64(u64 pid, u64 res, u64 new_lim, u64 old_lim) {
  if (pid != 0 && pid != 1) return -EINVAL;
  if (res >= 16) return -EINVAL;
  if (new_lim) return -EPERM;
  if (old_lim) {
    if (!user_ok(old_lim, 16, 1)) return -EFAULT;
    u64 *o = (u64 *)old_lim;
    o[0] = res == 3 ? 8ul << 20 : ~0ul;           /* RLIMIT_STACK: 8 MiB like Linux */
    o[1] = ~0ul;
    if (res == 7) o[0] = 1024, o[1] = 4096;       /* RLIMIT_NOFILE */
  }
  return 0;
}

static long sys_getrandom(u64 buf, u64 len) {
  if (!user_ok(buf, len, 1)) return -EFAULT;
  u8 *p = (u8 *)buf;
  for (u64 i = 0; i < len; i++) p[i] = (u8)rng();
  return (long)len;
}

static long sys_clock_gettime(u64 clk, u64 tp) {
  if (clk > 11) return -EINVAL;
  if (!user_ok(tp, 16, 1)) return -EFAULT;
  fake_ns += 1000;   /* deterministic: a clock that advances 1 us per call */
  ((u64 *)tp)[0] = fake_ns / 1000000000ul;
  ((u64 *)tp)[1] = fake_ns % 1000000000ul;
  return 0;
}

/* struct sysinfo (x86-64, 112 bytes): glibc's sysconf(_SC_PHYS_PAGES) asks, e.g. from qsort */
static long sys_sysinfo(u64 buf) {
  if (!user_ok(buf, 112, 1)) return -EFAULT;
  u8 *p = (u8 *)buf;
  memset(p, 0, 112);
  *(u64 *)(p + 0) = fake_ns / 1000000000ul;      /* uptime */
  *(u64 *)(p + 32) = pool_end - POOL_START;       /* totalram */
  *(u64 *)(p + 40) = pool_end - pool_next;        /* freeram */
  *(u16 *)(p + 80) = 1;                           /* procs */
  *(u32 *)(p + 104) = 1;                          /* mem_unit */
  return 0;
}

static long not_implemented(u64 nr) {
  for (int i = 0; i < n_enosys; i++) {
    if (enosys[i].nr == nr) return enosys[i].count++, -ENOSYS;
  }
  if (n_enosys < (int)ARRAY_SIZE(enosys)) enosys[n_enosys].nr = nr, enosys[n_enosys++].count = 1;
  return -ENOSYS;
}

/* called by uland_syscall_entry; the result goes in the frame's RAX; nonzero: the process ends */
int uland_syscall(struct frame *f) {
  u64 a0 = f->rdi, a1 = f->rsi, a2 = f->rdx, a3 = f->r10, a4 = f->r8, a5 = f->r9;
  long r;
  switch (f->rax) {
  case 1: r = sys_write(a0, a1, a2); break;
  case 5: r = fill_stat(a0, a1); break;                           /* fstat */
  case 9: r = sys_mmap(a0, a1, a2, a3, a4, a5); break;
  case 10: r = sys_mprotect(a0, a1, a2); break;
  case 11: r = sys_munmap(a0, a1); break;
  case 12: r = sys_brk(a0); break;
  case 16: r = a0 <= 2 ? -ENOTTY : -EBADF; break;                 /* ioctl */
  case 20: r = sys_writev(a0, a1, a2); break;
  case 39: case 186: r = 1; break;                                /* getpid, gettid */
  case 60: case 231:                                              /* exit, exit_group */
    uland_exit_status = a0 & 0xff;
    return 1;
  case 63: r = sys_uname(a0); break;
  case 89: case 267: r = -ENOENT; break;                          /* readlink(at) */
  case 99: r = sys_sysinfo(a0); break;
  case 102: case 104: case 107: case 108: r = 0; break;           /* get[e]uid, get[e]gid */
  case 110: r = 0; break;                                         /* getppid */
  case 158: r = sys_arch_prctl(a0, a1); break;
  case 218: r = 1; break;                                         /* set_tid_address: tid */
  case 228: r = sys_clock_gettime(a0, a1); break;
  case 262: r = sys_newfstatat(a0, a1, a2, a3); break;
  case 273: r = a1 == 24 ? 0 : -EINVAL; break;                    /* set_robust_list */
  case 302: r = sys_prlimit64(a0, a1, a2, a3); break;
  case 318: r = sys_getrandom(a0, a1); break;
  case 334: r = -ENOSYS; break;                                   /* rseq: glibc copes */
  default: r = not_implemented(f->rax); break;
  }
  f->rax = (u64)r;
  return 0;
}

/* ---- loading ---- */
struct ehdr {
  u8 ident[16];
  u16 type, machine;
  u32 version;
  u64 entry, phoff, shoff;
  u32 flags;
  u16 ehsize, phentsize, phnum, shentsize, shnum, shstrndx;
};
struct phdr { u32 type, flags; u64 offset, vaddr, paddr, filesz, memsz, align; };
#define PT_LOAD 1
#define PHF_X 1
#define PHF_W 2

static const u8 *img;
static u64 img_size, phdr_va;
static const struct ehdr *eh;
static char cmd[256];

static int load_elf(void) {
  eh = (const struct ehdr *)img;
  if (img_size < sizeof(*eh) || memcmp(eh->ident, "\177ELF\2\1", 6) != 0) {
    t_fail("the module is not a little-endian ELF64 file");
    return -1;
  }
  if ((eh->type != 2 && eh->type != 3) || eh->machine != 62) {
    t_fail("ELF type %u machine %u: want an x86-64 executable (ET_EXEC, or ET_DYN for static PIE)", eh->type,
           eh->machine);
    return -1;
  }
  /* a static PIE (ET_DYN without PT_INTERP) goes where Linux puts it without randomization,
   * ELF_ET_DYN_BASE = 2/3 of the user space, page-aligned; it relocates itself */
  u64 bias = eh->type == 3 ? ET_DYN_BASE : 0;
  if (eh->phentsize != sizeof(struct phdr) || eh->phoff + (u64)eh->phnum * sizeof(struct phdr) > img_size) {
    t_fail("bad program headers");
    return -1;
  }
  const struct phdr *ph = (const struct phdr *)(img + eh->phoff);
  u64 top = 0;
  for (int i = 0; i < eh->phnum; i++) {
    const struct phdr *p = &ph[i];
    if (p->type == 3) {   /* PT_INTERP */
      t_fail("the program needs a dynamic linker: build it -static");
      return -1;
    }
    if (p->type != PT_LOAD || p->memsz == 0) continue;
    u64 va = p->vaddr + bias;
    if (p->filesz > p->memsz || p->offset + p->filesz > img_size || !is_user_range(va, p->memsz)) {
      t_fail("PT_LOAD %d (vaddr %#lx memsz %#lx) outside the user ranges or the file", i, va, p->memsz);
      return -1;
    }
    u64 start = va & ~(PAGE - 1), end = (va + p->memsz + PAGE - 1) & ~(PAGE - 1);
    u64 prot = 1 | (p->flags & PHF_W ? 2 : 0) | (p->flags & PHF_X ? 4 : 0);
    if (map_range(start, end - start, prot_bits(prot)) < 0) {
      t_fail("out of memory loading PT_LOAD %d", i);
      return -1;
    }
    if (poke_user(va, img + p->offset, p->filesz) < 0) return t_fail("copy failed"), -1;
    if (eh->phoff >= p->offset && eh->phoff < p->offset + p->filesz) phdr_va = va + (eh->phoff - p->offset);
    if (end > top) top = end;
  }
  if (!phdr_va) {
    t_fail("the program headers are not in a PT_LOAD segment (no AT_PHDR)");
    return -1;
  }
  brk_start = brk_cur = top;
  brk_limit = top < USER_LO_END ? USER_LO_END : top + BRK_MAX;
  entry = eh->entry + bias;
  return 0;
}

/* the initial stack (System V x86-64 psABI 3.4.1; Linux's create_elf_tables): RSP -> argc,
 * argv[], NULL, envp[], NULL, auxv pairs, AT_NULL; strings and AT_RANDOM's bytes above */
static u64 build_stack(void) {
  if (map_range(STACK_TOP - STACK_SIZE, STACK_SIZE, prot_bits(3)) < 0) return 0;
  u64 sp = STACK_TOP;
  /* argv from the module string, split at spaces */
  const char *argv_s[16];
  int argc = 0;
  for (char *c = cmd; *c && argc < 16;) {
    while (*c == ' ') *c++ = 0;
    if (!*c) break;
    argv_s[argc++] = c;
    while (*c && *c != ' ') c++;
  }
  /* envp: LANG=C, then every env=NAME=VALUE word of the kernel command line */
  const char *envp_s[9] = { "LANG=C" };
  u64 envp_n[9] = { 6 };
  int envc = 1;
  for (const char *c = cmdline(); *c && envc < 9;) {
    while (*c == ' ') c++;
    u64 n = 0;
    while (c[n] && c[n] != ' ') n++;
    if (n > 4 && strncmp(c, "env=", 4) == 0) envp_s[envc] = c + 4, envp_n[envc++] = n - 4;
    c += n;
  }
  /* Linux's layout (fs/exec.c): a zero word at the very top, the file name (AT_EXECFN), the
   * environment strings, the argument strings; so a string that is read a little beyond its
   * end (glibc's tunables parser does) never meets the end of the stack */
  u64 argv_va[16], envp_va[9], execfn;
  sp -= 8;
  poke_user(sp, "\0\0\0\0\0\0\0", 8);
  const char *fname = argc ? argv_s[0] : "program";
  sp -= strlen(fname) + 1;
  poke_user(sp, fname, strlen(fname) + 1);
  execfn = sp;
  for (int i = envc - 1; i >= 0; i--) {
    sp -= envp_n[i] + 1;
    poke_user(sp, envp_s[i], envp_n[i]);
    poke_user(sp + envp_n[i], "", 1);
    envp_va[i] = sp;
  }
  for (int i = argc - 1; i >= 0; i--) {
    u64 n = strlen(argv_s[i]) + 1;
    sp -= n;
    poke_user(sp, argv_s[i], n);
    argv_va[i] = sp;
  }
  sp -= 7;
  poke_user(sp, "x86_64", 7);
  u64 platform = sp;
  u8 rnd[16];
  for (int i = 0; i < 16; i++) rnd[i] = (u8)rng();
  sp = (sp - 16) & ~15ul;
  poke_user(sp, rnd, 16);
  u64 random = sp;

  u32 a, b, c, d;
  cpuid(1, 0, &a, &b, &c, &d);
  u64 aux[][2] = {
    { 3, phdr_va }, { 4, sizeof(struct phdr) }, { 5, eh->phnum }, { 6, PAGE }, { 7, 0 },
    { 8, 0 }, { 9, entry }, { 11, 0 }, { 12, 0 }, { 13, 0 }, { 14, 0 }, { 15, platform },
    { 16, d }, { 17, 100 }, { 23, 0 }, { 25, random }, { 26, 0 },
    { 31, execfn }, { 0, 0 },
  };
  u64 words = 1 + (argc + 1) + (envc + 1) + 2 * ARRAY_SIZE(aux);
  sp = (sp - words * 8) & ~15ul;
  u64 v[80], k = 0;
  v[k++] = argc;
  for (int i = 0; i < argc; i++) v[k++] = argv_va[i];
  v[k++] = 0;
  for (int i = 0; i < envc; i++) v[k++] = envp_va[i];
  v[k++] = 0;
  for (u64 i = 0; i < ARRAY_SIZE(aux); i++) v[k++] = aux[i][0], v[k++] = aux[i][1];
  poke_user(sp, v, k * 8);
  return sp;
}

/* FPU for the program, when CPUID 1 EDX reports FPU (0), FXSR (24), SSE (25) and SSE2 (26):
 * CR0.MP=1 EM=0 TS=0 NE=1, CR4.OSFXSR and OSXMMEXCPT (APM Vol. 2, 11.1.5 and 3.1.3), and with
 * XSAVE (CPUID 1 ECX bit 26) CR4.OSXSAVE and XCR0 = x87 | SSE only (AVX stays off, so glibc's
 * ifuncs pick SSE code); then FNINIT and MXCSR = 1F80h, as Linux starts a process. Without
 * them the program runs with CR0.EM=1 and CR4.OSFXSR=0, as on a CPU with no FPU: its first x87
 * instruction raises #NM and its first SSE instruction #UD (APM Vol. 2, 11.2). Returns 1 when
 * the FPU is on. */
#define FP_EDX ((1u << 0) | (1u << 24) | (1u << 25) | (1u << 26))
static u32 cpuid1_edx;

static int fpu_enable(void) {
  u32 a, b, c, d;
  cpuid(1, 0, &a, &b, &c, &d);
  cpuid1_edx = d;
  if ((d & FP_EDX) != FP_EDX) {
    write_cr0((read_cr0() | CR0_EM) & ~(CR0_MP | CR0_TS));
    write_cr4(read_cr4() & ~(CR4_OSFXSR | CR4_OSXMMEXCPT | CR4_OSXSAVE));
    return 0;
  }
  write_cr0((read_cr0() | CR0_MP | CR0_NE) & ~(CR0_EM | CR0_TS));
  u64 cr4 = read_cr4() | CR4_OSFXSR | CR4_OSXMMEXCPT;
  if (c & (1u << 26)) cr4 |= CR4_OSXSAVE;
  write_cr4(cr4);
  if (c & (1u << 26)) asm volatile("xsetbv" :: "c"(0), "a"(3), "d"(0));
  return 1;
}

static void fpu_init(void *unused) {
  (void)unused;
  u32 mxcsr = 0x1f80;
  asm volatile("fninit; ldmxcsr %0" :: "m"(mxcsr));
}

static u64 user_rip, user_sp;
static void run_user(void *unused) {
  (void)unused;
  uland_exit_status = (u64)uland_enter(user_rip, user_sp);
}

static void report_fault(long vec) {
  char bytes[16 * 3 + 1];
  int n = 0;
  u64 rip = last_fault.rip;
  for (int i = 0; i < 12; i++) {
    u64 pa = (last_fault.cs & 3) ? user_phys(rip + i) : rip + i;
    if (!pa) break;
    n += snprintf(bytes + n, sizeof(bytes) - n, "%s%02x", i ? " " : "", *(u8 *)pa);
  }
  bytes[n] = 0;
  const char *where = (last_fault.cs & 3) ? "user" : "kernel";
  printf("\nUSER-FAULT vector=%ld rip=%#lx cs=%#lx cr2=%#lx error=%#lx bytes=%lu code=[%s]\n", vec, rip,
         last_fault.cs, last_fault.cr2, last_fault.error, out_bytes, bytes);
  const char *names[] = { "#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "#9", "#TS",
                          "#NP", "#SS", "#GP", "#PF", "#15", "#MF", "#AC", "#MC", "#XF" };
  t_fail("%s in %s mode at rip %#lx [%s] cr2 %#lx error %#lx", vec < 20 ? names[vec] : "?", where, rip,
         bytes, last_fault.cr2, last_fault.error);
}

static void static_elf(void) {
  u32 *info = (u32 *)(u64)mb_info;
  if (!info || !(info[0] & 8) || info[5] == 0) {
    t_fail("no multiboot module: boot this kernel with the static program as a module");
    return;
  }
  u32 *mod = (u32 *)(u64)info[6];
  img = (const u8 *)(u64)mod[0];
  img_size = mod[1] - mod[0];
  const char *s = mod[2] ? (const char *)(u64)mod[2] : "program";
  u64 n = strlen(s);
  if (n >= sizeof(cmd)) n = sizeof(cmd) - 1;
  memcpy(cmd, s, n);
  cmd[n] = 0;
  if ((u64)__bss_end > USER_LO_START || mod[1] > USER_LO_START) {
    t_fail("kernel (end %#lx) or module (end %#x) reaches the user range at %#lx", (u64)__bss_end, mod[1],
           USER_LO_START);
    return;
  }
  u64 mem_top = (info[0] & 1) ? 0x100000ul + (u64)info[2] * 1024 : 0;
  if (mem_top > 0xc0000000ul) mem_top = 0xc0000000ul;
  if (mem_top < POOL_START + (16ul << 20)) {
    t_fail("need RAM up to %#lx at least (have %#lx)", POOL_START + (16ul << 20), mem_top);
    return;
  }
  pool_next = POOL_START;
  pool_end = mem_top & ~(PAGE - 1);
  nx_ok = has_nx();
  rng_state = 0x9e3779b97f4a7c15ul;

  /* the user ranges leave the identity map; the rest becomes supervisor-only */
  for (u64 i = 0; i < 2048; i++) {
    if (i >= (USER_LO_START >> 21) && i < (USER_LO_END >> 21)) pd[i] = 0;
    else pd[i] &= ~PTE_U;
  }
  flush_tlb();

  long v;
  if (fpu_enable()) {
    v = catch_run(fpu_init, NULL);
    if (v >= 0) {
      t_fail("CPUID reports x87/SSE but FNINIT/LDMXCSR at CPL 0 raised vector %ld at rip %#lx", v, last_fault.rip);
      return;
    }
  } else {
    printf("note: CPUID 1 EDX %#x lacks FPU/FXSR/SSE/SSE2: the program runs with CR0.EM=1 (x87: #NM, SSE: #UD)\n",
           cpuid1_edx);
  }
  if (load_elf() < 0) return;
  mmap_next = MMAP_BASE;
  user_sp = build_stack();
  if (!user_sp) {
    t_fail("out of memory for the stack");
    return;
  }
  user_rip = entry;
  flush_tlb();
  wrmsr(MSR_LSTAR, (u64)uland_syscall_entry);
  wrmsr(MSR_FS_BASE, 0);
  wrmsr(MSR_KERNEL_GS_BASE, 0);

  printf("USER-BEGIN\n");
  v = catch_run(run_user, NULL);
  if (v >= 0) report_fault(v);
  else printf("\nUSER-END status=%lu bytes=%lu\n", uland_exit_status, out_bytes);
  for (int i = 0; i < n_enosys; i++) {
    printf("note: system call %lu answered -ENOSYS (%lu calls)\n", enosys[i].nr, enosys[i].count);
  }
  printf("note: %lu KiB of frames used\n", (pool_next - POOL_START) >> 10);
  if (v < 0 && uland_exit_status != 0) t_fail("the program exited with status %lu", uland_exit_status);
}

#define T(n) { #n, n }
const struct test tests[] = {
  T(static_elf),
};
const int ntests = ARRAY_SIZE(tests);
