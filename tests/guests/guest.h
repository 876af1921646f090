/* What molt's test guests share: port I/O and a polled 16550 UART at
 * 0x3f8 (molt's serial port), formatting without a C library. */
#ifndef MOLT_GUEST_H
#define MOLT_GUEST_H

#include <stddef.h>
#include <stdint.h>

static inline void outb(uint16_t port, uint8_t v) { __asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port)); }
static inline uint8_t inb(uint16_t port) {
    uint8_t v;
    __asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
    return v;
}

void serial_init(void);
void serial_putc(char c);
void serial_puts(const char *s);
void serial_put_u64(uint64_t v);
void serial_put_hex(uint64_t v);


/* The device tree molt passes in RDI (fdt.c). */
int fdt_valid(const void *fdt);
/* A property of a top-level node ("chosen", "memory" matches "memory@0"),
 * or NULL; *len gets its length in bytes. */
const void *fdt_prop(const void *fdt, const char *node, const char *prop, uint32_t *len);
uint32_t fdt_be32(const void *p);
uint64_t fdt_be64(const void *p);

/* The end of the guest image (guest.ld), page-aligned. */
extern char _end[];

#endif /* MOLT_GUEST_H */
