/* The memory dirtier (DESIGN.md "Guests"): keeps writing sequence
 * numbers into every page of free RAM and checks its own invariants.
 * Each round R verifies that every page still holds round R-1's pattern
 * (so a migration that loses or mixes up a page is caught on the
 * destination), then writes round R.  Reports each round over serial;
 * "rounds=N" in the bootargs stops after N rounds (default: forever).
 * RAM size comes from the device tree in RDI. */
#include "guest.h"

#define PAGE 4096u
#define MAGIC 0x6d6f6c7464697274ull   /* "moltdirt" */

struct page_head {
    uint64_t magic, round, index;
};

static uint64_t parse_rounds(const char *args, uint32_t len) {
    for (uint32_t i = 0; i + 7 <= len; i++) {
        const char *p = args + i;
        if ((i == 0 || args[i - 1] == ' ') && p[0] == 'r' && p[1] == 'o' && p[2] == 'u' &&
            p[3] == 'n' && p[4] == 'd' && p[5] == 's' && p[6] == '=') {
            uint64_t v = 0;
            for (uint32_t j = i + 7; j < len && args[j] >= '0' && args[j] <= '9'; j++)
                v = v * 10 + (uint64_t)(args[j] - '0');
            return v;
        }
    }
    return 0;
}

static void fail(uint64_t round, uint64_t index, const char *what, uint64_t got) {
    serial_puts("dirtier: FAIL round ");
    serial_put_u64(round);
    serial_puts(" page ");
    serial_put_u64(index);
    serial_puts(": ");
    serial_puts(what);
    serial_puts(" = ");
    serial_put_hex(got);
    serial_puts("\n");
    for (;;) __asm__ volatile("hlt");
}

void guest_main(const void *fdt) {
    serial_init();
    uint32_t len = 0;
    const void *reg = fdt_prop(fdt, "memory", "reg", &len);
    if (!reg || len < 16) {
        serial_puts("dirtier: FAIL no memory node in the device tree\n");
        return;
    }
    uint64_t ram_end = fdt_be64((const uint8_t *)reg + 8);
    const char *args = fdt_prop(fdt, "chosen", "bootargs", &len);
    uint64_t rounds = args ? parse_rounds(args, len) : 0;
    uint64_t first = (uint64_t)_end;
    uint64_t pages = ram_end > first ? (ram_end - first) / PAGE : 0;
    serial_puts("dirtier: ");
    serial_put_u64(pages);
    serial_puts(" pages from ");
    serial_put_hex(first);
    serial_puts("\n");
    for (uint64_t r = 1; rounds == 0 || r <= rounds; r++) {
        for (uint64_t i = 0; i < pages; i++) {
            volatile struct page_head *h = (volatile struct page_head *)(first + i * PAGE);
            volatile uint64_t *tail = (volatile uint64_t *)(first + i * PAGE + PAGE - 8);
            if (r > 1) {
                if (h->magic != MAGIC) fail(r, i, "magic", h->magic);
                if (h->round != r - 1) fail(r, i, "round", h->round);
                if (h->index != i) fail(r, i, "index", h->index);
                if (*tail != ((r - 1) ^ i ^ MAGIC)) fail(r, i, "tail", *tail);
            }
            h->magic = MAGIC;
            h->round = r;
            h->index = i;
            *tail = r ^ i ^ MAGIC;
        }
        serial_puts("dirtier: round ");
        serial_put_u64(r);
        serial_puts(" ok\n");
    }
    serial_puts("dirtier: PASS\n");
}
