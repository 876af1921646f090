/* A minimal flattened device tree reader for the test guests
 * (Devicetree Specification v0.4, chapter 5): the header, then the
 * structure block's tokens, looking at top-level nodes only.  Every
 * offset is checked against the header's sizes. */
#include "guest.h"

#define FDT_MAGIC 0xd00dfeedu
enum { FDT_BEGIN_NODE = 1, FDT_END_NODE = 2, FDT_PROP = 3, FDT_NOP = 4, FDT_END = 9 };

uint32_t fdt_be32(const void *p) {
    const uint8_t *b = p;
    return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 | (uint32_t)b[2] << 8 | b[3];
}

uint64_t fdt_be64(const void *p) {
    return (uint64_t)fdt_be32(p) << 32 | fdt_be32((const uint8_t *)p + 4);
}

int fdt_valid(const void *fdt) {
    return fdt && fdt_be32(fdt) == FDT_MAGIC && fdt_be32((const uint8_t *)fdt + 4) <= 0x80000;
}

static int str_eq(const char *a, const char *b) {
    while (*a && *a == *b) { a++; b++; }
    return *a == *b;
}

/* "memory@0" matches "memory". */
static int node_matches(const char *name, const char *want) {
    while (*want && *name == *want) { name++; want++; }
    return *want == 0 && (*name == 0 || *name == '@');
}

static uint32_t align4(uint32_t v) { return (v + 3) & ~3u; }

const void *fdt_prop(const void *fdt, const char *node, const char *prop, uint32_t *len) {
    const uint8_t *base = fdt;
    if (!fdt_valid(fdt)) return NULL;
    uint32_t off = fdt_be32(base + 8), size = fdt_be32(base + 36);
    uint32_t strings = fdt_be32(base + 12), strings_size = fdt_be32(base + 32);
    uint32_t pos = 0, depth = 0;
    int in_node = 0;
    while (pos + 4 <= size) {
        uint32_t token = fdt_be32(base + off + pos);
        pos += 4;
        if (token == FDT_BEGIN_NODE) {
            const char *name = (const char *)base + off + pos;
            uint32_t n = 0;
            while (pos + n < size && name[n]) n++;
            depth++;
            in_node = depth == 2 && node_matches(name, node);
            pos = align4(pos + n + 1);
        } else if (token == FDT_END_NODE) {
            if (depth == 0) return NULL;
            depth--;
            in_node = 0;
        } else if (token == FDT_PROP) {
            if (pos + 8 > size) return NULL;
            uint32_t plen = fdt_be32(base + off + pos), nameoff = fdt_be32(base + off + pos + 4);
            pos += 8;
            if (plen > size - pos || nameoff >= strings_size) return NULL;
            if (in_node && str_eq((const char *)base + strings + nameoff, prop)) {
                *len = plen;
                return base + off + pos;
            }
            pos = align4(pos + plen);
        } else if (token == FDT_END) {
            return NULL;
        } else if (token != FDT_NOP) {
            return NULL;
        }
    }
    return NULL;
}
