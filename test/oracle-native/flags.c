/*
 * Native flags oracle for the Hyperstep CPU.
 *
 * Executes flag-affecting integer instructions on the host CPU (x86-64) over a
 * seeded operand set and prints, for every case, the input registers and
 * EFLAGS and the output registers and EFLAGS. test/cpu/regen-goldens.ts builds
 * and runs this program and turns its output into the goldens under
 * test/fixtures/cpu-conformance/. Nothing is masked here: the test masks the
 * flags the SDM leaves undefined, so the goldens keep what the host did.
 *
 * Every instruction runs with the four registers EAX, EBX, ECX, EDX as its
 * only operands (the form text names them), so the guest side can replay a
 * case by loading those four registers and EFLAGS.
 *
 * DAA, DAS, AAA, AAS, AAM and AAD are invalid in 64-bit mode. They still run
 * on the real CPU here: the program maps a page below 4 GiB, builds a small
 * piece of 32-bit code in it and far-returns into the Linux 32-bit user code
 * segment (selector 0x23, compatibility mode), then far-returns back to the
 * 64-bit code segment (0x33). No 32-bit toolchain or reference model is
 * involved.
 *
 * Build: gcc -O1 -mno-red-zone -o flags flags.c   (the inline asm pushes.)
 * Output format (one form header, then its cases):
 *   form <group> <size> <kind> <intel text>
 *   <eax> <ebx> <ecx> <edx> <eflags> > <eax> <ebx> <ecx> <edx> <eflags>
 * all hex; an output field equal to its input is printed as "=".
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

typedef struct { uint32_t a, b, c, d, f; } St;

#define CF 0x001u
#define PF 0x004u
#define AF 0x010u
#define ZF 0x040u
#define SF 0x080u
#define OF 0x800u
#define STATUS (CF | PF | AF | ZF | SF | OF)
/* EFLAGS bits recorded: the six status flags and the reserved 1 in bit 1. */
#define RECORDED (STATUS | 0x2u)

/* ---- host execution of one form ---------------------------------------- */

#define RUN_BODY(TEXT)                                                          \
  uint64_t fi = (uint64_t)(s->f | 0x202u), fo;                                 \
  uint32_t a = s->a, b = s->b, c = s->c, d = s->d;                              \
  __asm__ volatile("pushq %[fi]\n\tpopfq\n\t.intel_syntax noprefix\n\t" TEXT  \
                   "\n\t.att_syntax prefix\n\tpushfq\n\tpopq %[fo]"             \
                   : "+a"(a), "+b"(b), "+c"(c), "+d"(d), [fo] "=&r"(fo)         \
                   : [fi] "r"(fi)                                               \
                   : "cc", "memory");                                           \
  s->a = a; s->b = b; s->c = c; s->d = d; s->f = (uint32_t)fo & RECORDED;

/* The form list: group, operand size, operand kind, intel text. */
#define FORMS(X)                                                               \
  X(arith, 32, BIN, "add eax, ebx") X(arith, 16, BIN, "add ax, bx") X(arith, 8, BIN, "add al, bl") \
  X(arith, 32, BIN, "adc eax, ebx") X(arith, 16, BIN, "adc ax, bx") X(arith, 8, BIN, "adc al, bl") \
  X(arith, 32, BIN, "sub eax, ebx") X(arith, 16, BIN, "sub ax, bx") X(arith, 8, BIN, "sub al, bl") \
  X(arith, 32, BIN, "sbb eax, ebx") X(arith, 16, BIN, "sbb ax, bx") X(arith, 8, BIN, "sbb al, bl") \
  X(arith, 32, BIN, "cmp eax, ebx") X(arith, 16, BIN, "cmp ax, bx") X(arith, 8, BIN, "cmp al, bl") \
  X(arith, 32, UN, "inc eax") X(arith, 16, UN, "inc ax") X(arith, 8, UN, "inc al")                 \
  X(arith, 32, UN, "dec eax") X(arith, 16, UN, "dec ax") X(arith, 8, UN, "dec al")                 \
  X(arith, 32, UN, "neg eax") X(arith, 16, UN, "neg ax") X(arith, 8, UN, "neg al")                 \
  X(arith, 32, BIN, "xadd eax, ebx") X(arith, 16, BIN, "xadd ax, bx") X(arith, 8, BIN, "xadd al, bl") \
  X(arith, 32, CMPXCHG, "cmpxchg ebx, ecx") X(arith, 16, CMPXCHG, "cmpxchg bx, cx")               \
  X(arith, 8, CMPXCHG, "cmpxchg bl, cl")                                                          \
  X(arith, 32, IMM, "add eax, 0x7fffffff") X(arith, 8, IMM, "sub al, 0x80")                        \
  X(arith, 16, IMM, "adc ax, -1") X(arith, 32, IMM, "sbb eax, 1")                                  \
  X(arith, 32, IMM, "cmp eax, -1") X(arith, 32, IMM, "sub eax, 0x7f") X(arith, 8, IMM, "adc al, 0x7f") \
  X(arith, 16, IMM, "sbb ax, 0x8000") X(arith, 8, IMM, "cmp bl, 0x80") X(arith, 16, IMM, "add bx, 0x7fff") \
  X(arith, 32, IMM, "sub ebx, -128") X(logic, 32, IMM, "and eax, 0x0f0f0f0f") X(logic, 8, IMM, "or al, 0x80") \
  X(logic, 16, IMM, "xor ax, 0x8000") X(logic, 32, IMM, "test eax, 0x80000000") X(logic, 8, IMM, "test al, 1") \
  X(logic, 32, IMM, "xor ebx, 0x12345678") X(logic, 16, IMM, "and bx, -2") X(logic, 8, IMM, "test bl, 0x81") \
  X(shift, 32, UN, "sar eax, 31") X(shift, 32, UN, "shl eax, 0") X(shift, 8, UN, "shr al, 8")       \
  X(rotate, 16, UN, "rol ax, 16") X(rotate, 8, UN, "rcr al, 8") X(rotate, 16, UN, "rcl ax, 17")    \
  X(rotate, 32, UN, "ror eax, 31") X(rotate, 8, UN, "rol al, 0")                                     \
  X(high, 8, HI, "add ah, bl") X(high, 8, HI, "sub bh, ah") X(high, 8, HI, "adc dh, ch")           \
  X(high, 8, HI, "sbb ch, dh") X(high, 8, HI, "cmp ah, dh") X(high, 8, HI, "and ah, bh")           \
  X(high, 8, HI, "or bh, dl") X(high, 8, HI, "xor dh, ah") X(high, 8, HI, "test ch, bh")           \
  X(high, 8, HI, "inc bh") X(high, 8, HI, "dec dh") X(high, 8, HI, "neg ah") X(high, 8, HI, "not ch") \
  X(high, 8, HI, "shl ah, cl") X(high, 8, HI, "shr bh, cl") X(high, 8, HI, "sar dh, cl")            \
  X(high, 8, HI, "rol ah, cl") X(high, 8, HI, "ror bh, 1") X(high, 8, HI, "rcl dh, cl")             \
  X(high, 8, HI, "rcr ah, cl") X(high, 8, HI, "shr ch, cl") X(high, 8, HI, "mul ah")               \
  X(high, 8, HI, "imul bh") X(high, 8, HI, "xadd ah, bh") X(high, 8, HI, "cmpxchg bh, ah")         \
  X(high, 8, HI, "sete ah") X(high, 8, HI, "setb bh") X(high, 8, HI, "xchg ah, dh")                \
  X(high, 32, HI, "movzx eax, bh") X(high, 32, HI, "movsx ebx, ah") X(high, 16, HI, "movsx ax, dh") \
  X(high, 8, HI, "bt ax, 9") \
  MEMFORMS(X) \
  X(logic, 32, BIN, "and eax, ebx") X(logic, 16, BIN, "and ax, bx") X(logic, 8, BIN, "and al, bl") \
  X(logic, 32, BIN, "or eax, ebx") X(logic, 16, BIN, "or ax, bx") X(logic, 8, BIN, "or al, bl")    \
  X(logic, 32, BIN, "xor eax, ebx") X(logic, 16, BIN, "xor ax, bx") X(logic, 8, BIN, "xor al, bl") \
  X(logic, 32, BIN, "test eax, ebx") X(logic, 16, BIN, "test ax, bx") X(logic, 8, BIN, "test al, bl") \
  X(logic, 32, UN, "not eax") X(logic, 16, UN, "not ax") X(logic, 8, UN, "not al")                 \
  X(shift, 32, SH, "shl eax, cl") X(shift, 16, SH, "shl ax, cl") X(shift, 8, SH, "shl al, cl")     \
  X(shift, 32, SH, "shr eax, cl") X(shift, 16, SH, "shr ax, cl") X(shift, 8, SH, "shr al, cl")     \
  X(shift, 32, SH, "sar eax, cl") X(shift, 16, SH, "sar ax, cl") X(shift, 8, SH, "sar al, cl")     \
  X(shift, 32, UN, "shl eax, 1") X(shift, 16, UN, "shr ax, 1") X(shift, 8, UN, "sar al, 1")        \
  X(shift, 32, UN, "shr eax, 5") X(shift, 8, UN, "shl al, 3") X(shift, 16, UN, "sar ax, 15")       \
  X(rotate, 32, SH, "rol eax, cl") X(rotate, 16, SH, "rol ax, cl") X(rotate, 8, SH, "rol al, cl")  \
  X(rotate, 32, SH, "ror eax, cl") X(rotate, 16, SH, "ror ax, cl") X(rotate, 8, SH, "ror al, cl")  \
  X(rotate, 32, SH, "rcl eax, cl") X(rotate, 16, SH, "rcl ax, cl") X(rotate, 8, SH, "rcl al, cl")  \
  X(rotate, 32, SH, "rcr eax, cl") X(rotate, 16, SH, "rcr ax, cl") X(rotate, 8, SH, "rcr al, cl")  \
  X(rotate, 32, UN, "rol eax, 1") X(rotate, 16, UN, "ror ax, 1") X(rotate, 8, UN, "rcl al, 1")     \
  X(rotate, 32, UN, "rcr eax, 1") X(rotate, 8, UN, "rol al, 4") X(rotate, 16, UN, "rcr ax, 9")     \
  X(shd, 32, SHD, "shld eax, ebx, cl") X(shd, 16, SHD, "shld ax, bx, cl")                          \
  X(shd, 32, SHD, "shrd eax, ebx, cl") X(shd, 16, SHD, "shrd ax, bx, cl")                          \
  X(shd, 32, BIN, "shld eax, ebx, 1") X(shd, 32, BIN, "shrd eax, ebx, 7")                          \
  X(shd, 16, BIN, "shld ax, bx, 12") X(shd, 16, BIN, "shrd ax, bx, 1")                             \
  X(muldiv, 32, BIN, "mul ebx") X(muldiv, 16, BIN, "mul bx") X(muldiv, 8, BIN, "mul bl")           \
  X(muldiv, 32, BIN, "imul ebx") X(muldiv, 16, BIN, "imul bx") X(muldiv, 8, BIN, "imul bl")        \
  X(muldiv, 32, BIN, "imul eax, ebx") X(muldiv, 16, BIN, "imul ax, bx")                            \
  X(muldiv, 32, BIN, "imul eax, ebx, -3") X(muldiv, 32, BIN, "imul eax, ebx, 0x12345")             \
  X(muldiv, 16, BIN, "imul ax, bx, 0x7fff") X(muldiv, 16, BIN, "imul ax, bx, 5")                   \
  X(muldiv, 32, DIV, "div ebx") X(muldiv, 16, DIV, "div bx") X(muldiv, 8, DIV, "div bl")           \
  X(muldiv, 32, IDIV, "idiv ebx") X(muldiv, 16, IDIV, "idiv bx") X(muldiv, 8, IDIV, "idiv bl")     \
  X(bit, 32, BT, "bt eax, ebx") X(bit, 16, BT, "bt ax, bx")                                        \
  X(bit, 32, BT, "bts eax, ebx") X(bit, 16, BT, "bts ax, bx")                                      \
  X(bit, 32, BT, "btr eax, ebx") X(bit, 16, BT, "btr ax, bx")                                      \
  X(bit, 32, BT, "btc eax, ebx") X(bit, 16, BT, "btc ax, bx")                                      \
  X(bit, 32, UN, "bt eax, 31") X(bit, 16, UN, "bts ax, 17") X(bit, 32, UN, "btr eax, 3")          \
  X(bit, 16, UN, "btc ax, 15")                                                                     \
  X(bit, 32, BS, "bsf eax, ebx") X(bit, 16, BS, "bsf ax, bx")                                      \
  X(bit, 32, BS, "bsr eax, ebx") X(bit, 16, BS, "bsr ax, bx")                                      \
  X(misc, 32, UN, "bswap eax") X(misc, 32, UN, "bswap ebx")                                        \
  X(misc, 16, UN, "cbw") X(misc, 32, UN, "cwde") X(misc, 16, UN, "cwd") X(misc, 32, UN, "cdq")     \
  X(misc, 8, UN, "lahf") X(misc, 8, UN, "sahf") X(misc, 8, UN, "cmc") X(misc, 8, UN, "clc")        \
  X(misc, 8, UN, "stc") X(misc, 32, BIN, "lea eax, [ebx+ecx*2+5]") X(misc, 16, BIN, "lea ax, [ebx+ecx*8-1]") \
  X(misc, 32, BIN, "xchg eax, ebx") X(misc, 8, HI, "xchg al, bh") X(misc, 32, BIN, "xchg ecx, edx") \
  CONDS(X)

/* Memory-operand forms: the operand lives at MEM (mapped at the same address
 * on the host and in the guest); EAX carries its value in and out. The text
 * is gas Intel syntax; the regen script drops "ptr" for nasm. */
#define MEM "0x500000"
#define M32(op) "mov [" MEM "], eax; " op "; mov eax, [" MEM "]"
#define M16(op) "mov [" MEM "], ax; " op "; mov ax, [" MEM "]"
#define M8(op) "mov [" MEM "], al; " op "; mov al, [" MEM "]"
#define MEMFORMS(X)                                                                               \
  X(mem, 32, BIN, M32("add [" MEM "], ebx")) X(mem, 16, BIN, M16("adc [" MEM "], bx"))            \
  X(mem, 8, BIN, M8("sub [" MEM "], bl")) X(mem, 32, BIN, M32("sbb [" MEM "], ebx"))              \
  X(mem, 16, BIN, M16("and [" MEM "], bx")) X(mem, 8, BIN, M8("or [" MEM "], bl"))                \
  X(mem, 32, BIN, M32("xor [" MEM "], ebx")) X(mem, 32, BIN, M32("cmp [" MEM "], ebx"))           \
  X(mem, 8, BIN, M8("test [" MEM "], bl")) X(mem, 32, BIN, M32("add ebx, [" MEM "]"))             \
  X(mem, 16, BIN, M16("sub bx, [" MEM "]")) X(mem, 32, BIN, M32("adc dword ptr [" MEM "], 0x7f")) \
  X(mem, 16, BIN, M16("cmp word ptr [" MEM "], -2")) X(mem, 8, BIN, M8("xor byte ptr [" MEM "], 0x81")) \
  X(mem, 32, UN, M32("inc dword ptr [" MEM "]")) X(mem, 16, UN, M16("dec word ptr [" MEM "]"))  \
  X(mem, 8, UN, M8("neg byte ptr [" MEM "]")) X(mem, 32, UN, M32("not dword ptr [" MEM "]"))     \
  X(mem, 32, SH, M32("shl dword ptr [" MEM "], cl")) X(mem, 16, SH, M16("sar word ptr [" MEM "], cl")) \
  X(mem, 8, SH, M8("shr byte ptr [" MEM "], cl")) X(mem, 32, SH, M32("rcl dword ptr [" MEM "], cl")) \
  X(mem, 16, SH, M16("ror word ptr [" MEM "], cl")) X(mem, 8, SH, M8("rcr byte ptr [" MEM "], cl")) \
  X(mem, 32, UN, M32("sar dword ptr [" MEM "], 1")) X(mem, 8, UN, M8("rol byte ptr [" MEM "], 3")) \
  X(mem, 32, SHD, M32("shld [" MEM "], ebx, cl")) X(mem, 16, SHD, M16("shrd [" MEM "], bx, cl")) \
  X(mem, 32, BIN, M32("xadd [" MEM "], ebx")) X(mem, 8, CMPXCHG, "mov [" MEM "], bl; cmpxchg [" MEM "], cl; mov bl, [" MEM "]") \
  X(mem, 32, CMPXCHG, "mov [" MEM "], ebx; cmpxchg [" MEM "], ecx; mov ebx, [" MEM "]")           \
  X(mem, 32, BIN, "mov [" MEM "], ebx; mul dword ptr [" MEM "]") X(mem, 16, BIN, "mov [" MEM "], bx; imul word ptr [" MEM "]") \
  X(mem, 32, BIN, "mov [" MEM "], ebx; imul eax, [" MEM "]") X(mem, 8, BIN, "mov [" MEM "], bl; imul byte ptr [" MEM "]") \
  X(mem, 32, DIV, "mov [" MEM "], ebx; div dword ptr [" MEM "]") X(mem, 16, IDIV, "mov [" MEM "], bx; idiv word ptr [" MEM "]") \
  X(mem, 32, BT, M32("bt dword ptr [" MEM "], 5")) X(mem, 16, BT, M16("bts word ptr [" MEM "], 13")) \
  X(mem, 32, BS, "mov [" MEM "], ebx; bsf eax, [" MEM "]") X(mem, 16, BS, "mov [" MEM "], bx; bsr ax, [" MEM "]") \
  X(mem, 32, UN, "mov [" MEM "], eax; setc byte ptr [" MEM "]; mov eax, [" MEM "]")               \
  X(mem, 32, CC, "mov [" MEM "], ebx; cmovle eax, [" MEM "]")

#define CC(X, cc)                                                                                \
  X(cc, 8, CC, "set" cc " al") X(cc, 32, CC, "cmov" cc " eax, ebx") X(cc, 16, CC, "cmov" cc " ax, bx")
/* The group for setcc/cmov is filled in as "cond" by the printer. */
#define CONDS(X)                                                                                  \
  CC(X, "o") CC(X, "no") CC(X, "b") CC(X, "nb") CC(X, "z") CC(X, "nz") CC(X, "be") CC(X, "nbe")     \
  CC(X, "s") CC(X, "ns") CC(X, "p") CC(X, "np") CC(X, "l") CC(X, "nl") CC(X, "le") CC(X, "nle")

enum Kind { BIN, UN, IMM, SH, SHD, DIV, IDIV, BT, BS, CMPXCHG, CC, BCD, HI };
static const char *kind_names[] = {"bin", "un", "imm", "sh", "shd", "div", "idiv", "bt", "bs", "cmpxchg", "cc", "bcd", "hi"};

typedef struct { const char *group; int size; enum Kind kind; const char *text; } Form;

/* One function holds every form's asm; idx selects it. */
static void run_form(int idx, St *s) {
  int i = 0;
#define CASE(G, S, K, T) if (idx == i++) { RUN_BODY(T) return; }
  FORMS(CASE)
#undef CASE
}
#define ENTRY(G, S, K, T) {#G, S, K, T},
static Form forms[] = {FORMS(ENTRY)};

/* ---- 32-bit compatibility-mode runner for the BCD instructions ---------- */

static uint8_t *low;         /* RWX page below 2 GiB */
static uint8_t *low_insn;    /* where the instruction bytes go */
static uint32_t low_base;
enum { SAVED_RSP = 0x800, IN = 0x810, OUT = 0x830, STACK_TOP = 0xF000 };

static void put32(uint8_t **q, uint32_t v) { memcpy(*q, &v, 4); *q += 4; }

/* The code, in the page:
 *   64-bit:  mov [saved], rsp; mov esp, stack; push 0x23; push code32; retfq
 *   32-bit:  load eax..edx and eflags from IN (SS-relative: DS is the null
 *            selector in 64-bit Linux processes), run the instruction padded
 *            with NOPs, store eax..edx and eflags to OUT, push 0x33; push back;
 *            retf
 *   64-bit:  mov rsp, [saved]; ret                                          */
static void build_compat(void) {
  low = mmap(0, 0x10000, PROT_READ | PROT_WRITE | PROT_EXEC,
             MAP_PRIVATE | MAP_ANONYMOUS | MAP_32BIT, -1, 0);
  if (low == MAP_FAILED) { perror("mmap"); _exit(1); }
  low_base = (uint32_t)(uintptr_t)low;
  uint8_t *q = low, *fix;
  uint32_t in = low_base + IN, out = low_base + OUT;
  *q++ = 0x48; *q++ = 0x89; *q++ = 0x24; *q++ = 0x25; put32(&q, low_base + SAVED_RSP);
  *q++ = 0xBC; put32(&q, low_base + STACK_TOP);
  *q++ = 0x6A; *q++ = 0x23;
  *q++ = 0x68; fix = q; put32(&q, 0);
  *q++ = 0x48; *q++ = 0xCB;
  uint32_t code32 = low_base + (uint32_t)(q - low); memcpy(fix, &code32, 4);
  *q++ = 0x36; *q++ = 0xFF; *q++ = 0x35; put32(&q, in + 16); /* push dword [ss:in.f] */
  *q++ = 0x9D;                                               /* popfd */
  *q++ = 0x36; *q++ = 0xA1; put32(&q, in);                   /* mov eax, [ss:in.a] */
  *q++ = 0x36; *q++ = 0x8B; *q++ = 0x1D; put32(&q, in + 4);  /* mov ebx */
  *q++ = 0x36; *q++ = 0x8B; *q++ = 0x0D; put32(&q, in + 8);  /* mov ecx */
  *q++ = 0x36; *q++ = 0x8B; *q++ = 0x15; put32(&q, in + 12); /* mov edx */
  low_insn = q; memset(q, 0x90, 8); q += 8;
  *q++ = 0x9C;                                               /* pushfd */
  *q++ = 0x36; *q++ = 0xA3; put32(&q, out);                  /* mov [ss:out.a], eax */
  *q++ = 0x36; *q++ = 0x89; *q++ = 0x1D; put32(&q, out + 4);
  *q++ = 0x36; *q++ = 0x89; *q++ = 0x0D; put32(&q, out + 8);
  *q++ = 0x36; *q++ = 0x89; *q++ = 0x15; put32(&q, out + 12);
  *q++ = 0x36; *q++ = 0x8F; *q++ = 0x05; put32(&q, out + 16); /* pop dword [ss:out.f] */
  *q++ = 0x6A; *q++ = 0x33;
  *q++ = 0x68; fix = q; put32(&q, 0);
  *q++ = 0xCB;                                               /* 32-bit retf */
  uint32_t back = low_base + (uint32_t)(q - low); memcpy(fix, &back, 4);
  *q++ = 0x48; *q++ = 0x8B; *q++ = 0x24; *q++ = 0x25; put32(&q, low_base + SAVED_RSP);
  *q++ = 0xC3;
}

static void run_compat(const uint8_t *insn, int len, St *s) {
  memset(low_insn, 0x90, 8);
  memcpy(low_insn, insn, (size_t)len);
  memcpy(low + IN, s, sizeof *s);
  ((uint32_t *)(low + IN))[4] = s->f | 0x202u;
  ((void (*)(void))low)();
  memcpy(s, low + OUT, sizeof *s);
  s->f &= RECORDED;
}

/* ---- operand generation ------------------------------------------------ */

static uint64_t rng = 0x9E3779B97F4A7C15ull;
static uint32_t rnd(void) {
  rng ^= rng << 13; rng ^= rng >> 7; rng ^= rng << 17;
  return (uint32_t)(rng >> 16);
}

static const uint32_t edges[] = {0, 1, 2, 0x7F, 0x80, 0x81, 0xFF, 0x7FFF, 0x8000, 0xFFFF,
                                 0x7FFFFFFF, 0x80000000, 0x80000001, 0xFFFFFFFE, 0xFFFFFFFF, 0x10};
#define NEDGES (sizeof edges / sizeof edges[0])
static const uint32_t counts[] = {0, 1, 2, 3, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 255};
#define NCOUNTS (sizeof counts / sizeof counts[0])

static uint32_t size_mask(int size) { return size == 32 ? 0xFFFFFFFFu : (1u << size) - 1; }

/* A value for an operand of `size` bits: low bits from v, the bits above the
 * operand random, so the test sees whether they are preserved. */
static uint32_t fit(int size, uint32_t v) { return (rnd() & ~size_mask(size)) | (v & size_mask(size)); }
static uint32_t value(int size, int i) {
  return fit(size, i < (int)NEDGES ? edges[i] : rnd() >> (rnd() % 32));
}

static void emit(const Form *f, int idx, const uint8_t *bytes, int blen, St in) {
  St out = in;
  if (idx >= 0) run_form(idx, &out); else run_compat(bytes, blen, &out);
  const uint32_t *i = &in.a, *o = &out.a;
  for (int k = 0; k < 5; k++) printf("%x ", i[k]);
  printf(">");
  for (int k = 0; k < 5; k++) {
    if (o[k] == i[k]) printf(" =");
    else printf(" %x", o[k]);
  }
  printf("\n");
  (void)f;
}

static void gen(const Form *f, int idx, const uint8_t *bytes, int blen) {
  int size = f->size;
  int nv = (int)NEDGES + 4;
  St s;
  switch (f->kind) {
  case BIN: case IMM:
    for (int i = 0; i < nv; i++)
      for (int j = 0; j < nv; j++) {
        s.a = value(size, i); s.b = value(size, j); s.c = rnd(); s.d = rnd();
        s.f = (i + j) % 3 == 0 ? 0 : (i + j) % 3 == 1 ? STATUS : (rnd() & STATUS);
        emit(f, idx, bytes, blen, s);
      }
    break;
  case UN:
    for (int i = 0; i < nv + 48; i++)
      for (int k = 0; k < 3; k++) {
        s.a = value(size, i); s.b = value(size, i); s.c = rnd(); s.d = rnd();
        s.f = k == 0 ? 0 : k == 1 ? STATUS : (rnd() & STATUS);
        emit(f, idx, bytes, blen, s);
      }
    break;
  case SH: case SHD:
    for (int i = 0; i < nv; i++)
      for (int j = 0; j < (int)NCOUNTS + 4; j++)
        for (int k = 0; k < 2; k++) {
          uint32_t count = j < (int)NCOUNTS ? counts[j] : rnd() & 0xFF;
          /* Count above the operand size leaves SHLD/SHRD undefined. */
          if (f->kind == SHD && (count & 31) > (uint32_t)size) count = count & 15;
          s.a = value(size, i); s.b = value(size, (i * 7 + j) % nv);
          s.c = (rnd() & 0xFFFFFF00u) | count; s.d = rnd();
          s.f = k == 0 ? (rnd() & STATUS & ~CF) : ((rnd() & STATUS) | CF);
          emit(f, idx, bytes, blen, s);
        }
    break;
  case DIV: case IDIV:
    for (int n = 0; n < 600; n++) {
      uint32_t m = size_mask(size);
      uint32_t div = value(size, n % nv) & m;
      if (div == 0) div = 1 + (rnd() & 0x7F);
      uint64_t lo = value(size, (n * 5 + 3) % nv) & m, hi;
      if (f->kind == DIV) {
        hi = (n % 4 == 0) ? div - 1 : rnd() % div;
      } else {
        /* Pick a signed quotient that fits, then a remainder below |div|. */
        int64_t sdiv = size == 32 ? (int32_t)div : size == 16 ? (int16_t)div : (int8_t)div;
        int64_t qmax = (int64_t)1 << (size - 1);
        int64_t q = (int64_t)(rnd() % (uint64_t)(2 * qmax)) - qmax;
        if (n % 5 == 0) q = (n % 2) ? qmax - 1 : -qmax;
        int64_t absd = sdiv < 0 ? -sdiv : sdiv;
        int64_t r = (int64_t)(rnd() % (uint64_t)absd);
        __int128 dividend = (__int128)q * sdiv;
        if (dividend < 0 && r) dividend -= r; else dividend += r;
        /* Remainder sign follows the dividend; check the quotient still fits. */
        __int128 tq = dividend / sdiv;
        if (tq >= qmax || tq < -qmax) { n--; continue; }
        uint64_t dv = (uint64_t)dividend;
        lo = dv & m; hi = (dv >> size) & m;
      }
      s.c = rnd(); s.f = rnd() & STATUS;
      s.b = (rnd() & ~m) | div;
      if (size == 8) { s.a = (rnd() & 0xFFFF0000u) | (uint32_t)(hi << 8) | (uint32_t)lo; s.d = rnd(); }
      else { s.a = (rnd() & ~m) | (uint32_t)lo; s.d = (rnd() & ~m) | (uint32_t)hi; }
      emit(f, idx, bytes, blen, s);
    }
    break;
  case BT: {
    static const uint32_t offs[] = {0, 1, 7, 8, 15, 16, 17, 31, 32, 33, 0x7FFF, 0x8000, 0xFFFF, 0xFFFFFFFF, 0x80000000};
    for (int i = 0; i < nv; i++)
      for (int j = 0; j < 19; j++)
        for (int k = 0; k < 2; k++) {
          s.a = value(size, i); s.b = j < 15 ? offs[j] : rnd(); s.c = rnd(); s.d = rnd();
          s.f = k ? STATUS : 0;
          emit(f, idx, bytes, blen, s);
        }
    break;
  }
  case BS:
    for (int i = 0; i < nv + 64; i++)
      for (int k = 0; k < 3; k++) {
        s.a = rnd(); s.b = (i % 8 == 0) ? (rnd() & ~size_mask(size)) : value(size, i);
        if ((s.b & size_mask(size)) == 0) s.b |= 0; /* zero source stays in */
        if (i >= nv && i % 8 != 0) s.b = fit(size, 1u << (rnd() % size));
        s.c = rnd(); s.d = rnd();
        s.f = k == 0 ? 0 : k == 1 ? STATUS : (rnd() & STATUS);
        emit(f, idx, bytes, blen, s);
      }
    break;
  case CMPXCHG:
    for (int i = 0; i < nv; i++)
      for (int j = 0; j < nv; j++) {
        s.a = value(size, i); s.b = (j % 3 == 0) ? fit(size, s.a) : value(size, j);
        s.c = value(size, (i + j) % nv); s.d = rnd(); s.f = rnd() & STATUS;
        emit(f, idx, bytes, blen, s);
      }
    break;
  case CC:
    for (unsigned fl = 0; fl < 64; fl++)
      for (int k = 0; k < 2; k++) {
        /* bits of fl: CF PF AF ZF SF OF */
        s.f = ((fl & 1) ? CF : 0) | ((fl & 2) ? PF : 0) | ((fl & 4) ? AF : 0) |
              ((fl & 8) ? ZF : 0) | ((fl & 16) ? SF : 0) | ((fl & 32) ? OF : 0);
        s.a = rnd(); s.b = rnd(); s.c = rnd(); s.d = rnd();
        emit(f, idx, bytes, blen, s);
      }
    break;
  case HI: {
    /* Byte edges in bytes 0 and 1 of every register (AL/AH, BL/BH, ...). */
    static const uint32_t e8[] = {0, 1, 2, 7, 8, 9, 0x7F, 0x80, 0x81, 0xFE, 0xFF, 0x10};
    for (int i = 0; i < 12; i++)
      for (int j = 0; j < 12; j++)
        for (int k = 0; k < 2; k++) {
          s.a = (rnd() & 0xFFFF0000u) | (e8[i] << 8) | e8[j];
          s.b = (rnd() & 0xFFFF0000u) | (e8[j] << 8) | e8[(i + 5) % 12];
          s.c = (rnd() & 0xFFFF0000u) | (e8[(i + j) % 12] << 8) | (k ? e8[i] : e8[j]);
          s.d = (rnd() & 0xFFFF0000u) | (e8[(i * 7 + j) % 12] << 8) | e8[i];
          s.f = k ? (rnd() & STATUS) : ((i + j) & 1 ? STATUS : 0);
          emit(f, idx, bytes, blen, s);
        }
    break;
  }
  case BCD:
    for (uint32_t al = 0; al < 256; al++)
      for (int k = 0; k < 4; k++) {
        uint32_t ah = (al * 37 + (uint32_t)k * 101) & 0xFF;
        if (k == 3) ah = 0xFF;
        s.a = (rnd() & 0xFFFF0000u) | (ah << 8) | al; s.b = rnd(); s.c = rnd(); s.d = rnd();
        s.f = (rnd() & (PF | ZF | SF | OF)) | ((k & 1) ? CF : 0) | ((k & 2) ? AF : 0);
        emit(f, idx, bytes, blen, s);
      }
    break;
  }
}

typedef struct { const char *text; uint8_t bytes[2]; int len; } BcdForm;
static const BcdForm bcd_forms[] = {
    {"daa", {0x27}, 1}, {"das", {0x2F}, 1}, {"aaa", {0x37}, 1}, {"aas", {0x3F}, 1},
    {"aam", {0xD4, 0x0A}, 2}, {"aad", {0xD5, 0x0A}, 2},
    {"aam 16", {0xD4, 0x10}, 2}, {"aad 16", {0xD5, 0x10}, 2},
    {"aam 7", {0xD4, 0x07}, 2}, {"aad 7", {0xD5, 0x07}, 2},
};

int main(void) {
  /* The memory operand of the "mem" forms, at the address the guest uses. */
  if (mmap((void *)0x500000, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0) !=
      (void *)0x500000) {
    perror("mmap 0x500000");
    return 1;
  }
  size_t n = sizeof forms / sizeof forms[0];
  for (size_t i = 0; i < n; i++) {
    Form *f = &forms[i];
    const char *group = f->kind == CC ? "cond" : f->group;
    printf("form %s %d %s %s\n", group, f->size, kind_names[f->kind], f->text);
    gen(f, (int)i, 0, 0);
  }
  build_compat();
  for (size_t i = 0; i < sizeof bcd_forms / sizeof bcd_forms[0]; i++) {
    Form f = {"bcd", 8, BCD, bcd_forms[i].text};
    printf("form bcd 8 bcd %s\n", f.text);
    gen(&f, -1, bcd_forms[i].bytes, bcd_forms[i].len);
  }
  return 0;
}
