/* The memory dirtier (DESIGN.md "Guests"): keeps writing sequence
 * numbers into every page of free RAM and checks its own invariants.
 * Each round R verifies that every page still holds round R-1's pattern
 * (so a migration that loses or mixes up a page is caught on the
 * destination), then writes round R.  Reports each round over serial;
 * "rounds=N" in the bootargs stops after N rounds (default: forever).
 * RAM comes from the device tree in RDI: every (address, size) pair of
 * /memory's reg (low RAM from 0, above 4 GiB high RAM), pages numbered
 * across them in address order. */
#include "guest.h"

#define PAGE 4096u
#define MAGIC 0x6d6f6c7464697274ull   /* "moltdirt" */
#define MAX_RANGES 4

/* Free RAM: pages [first, first + pages * PAGE) of one memory region. */
struct range {
    uint64_t first, pages;
};

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

/* The free part of each /memory reg pair (above the image); returns how
 * many ranges, 0 if there is no memory node. */
static uint32_t free_ranges(const void *fdt, struct range *out) {
    uint32_t len = 0, n = 0;
    const uint8_t *reg = fdt_prop(fdt, "memory", "reg", &len);
    if (!reg) return 0;
    for (uint32_t at = 0; at + 16 <= len && n < MAX_RANGES; at += 16) {
        uint64_t base = fdt_be64(reg + at), end = base + fdt_be64(reg + at + 8);
        uint64_t first = base > (uint64_t)_end ? base : (uint64_t)_end;
        if (end > first) {
            out[n].first = first;
            out[n].pages = (end - first) / PAGE;
            n++;
        }
    }
    return n;
}

/* One round over one range; i numbers pages across all ranges. */
static uint64_t dirty_range(const struct range *g, uint64_t r, uint64_t i) {
    for (uint64_t p = 0; p < g->pages; p++, i++) {
        uint64_t page = g->first + p * PAGE;
        volatile struct page_head *h = (volatile struct page_head *)page;
        volatile uint64_t *tail = (volatile uint64_t *)(page + PAGE - 8);
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
    return i;
}

void guest_main(const void *fdt) {
    serial_init();
    struct range ranges[MAX_RANGES];
    uint32_t n = free_ranges(fdt, ranges);
    if (n == 0) {
        serial_puts("dirtier: FAIL no memory node in the device tree\n");
        return;
    }
    uint32_t len = 0;
    const char *args = fdt_prop(fdt, "chosen", "bootargs", &len);
    uint64_t rounds = args ? parse_rounds(args, len) : 0;
    uint64_t pages = 0;
    for (uint32_t k = 0; k < n; k++) pages += ranges[k].pages;
    serial_puts("dirtier: ");
    serial_put_u64(pages);
    serial_puts(" pages from ");
    serial_put_hex(ranges[0].first);
    serial_puts("\n");
    for (uint32_t k = 1; k < n; k++) {
        serial_puts("dirtier: ");
        serial_put_u64(ranges[k].pages);
        serial_puts(" of them in RAM from ");
        serial_put_hex(ranges[k].first);
        serial_puts("\n");
    }
    for (uint64_t r = 1; rounds == 0 || r <= rounds; r++) {
        uint64_t i = 0;
        for (uint32_t k = 0; k < n; k++) i = dirty_range(&ranges[k], r, i);
        serial_puts("dirtier: round ");
        serial_put_u64(r);
        serial_puts(" ok\n");
    }
    serial_puts("dirtier: PASS\n");
}
