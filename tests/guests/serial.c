/* Polled 16550 output for the test guests (COM1, 0x3f8): LSR bit 5
 * (THR empty) is awaited before each byte, as a real driver would. */
#include "guest.h"

#define COM1 0x3f8

void serial_init(void) {
    outb(COM1 + 1, 0x00);   /* IER: no interrupts */
    outb(COM1 + 3, 0x80);   /* LCR: DLAB */
    outb(COM1 + 0, 0x01);   /* DLL: 115200 baud */
    outb(COM1 + 1, 0x00);   /* DLM */
    outb(COM1 + 3, 0x03);   /* LCR: 8N1 */
    outb(COM1 + 2, 0xc7);   /* FCR: FIFO on, cleared */
    outb(COM1 + 4, 0x03);   /* MCR: DTR, RTS */
}

void serial_putc(char c) {
    while (!(inb(COM1 + 5) & 0x20)) {
    }
    outb(COM1, (uint8_t)c);
}

void serial_puts(const char *s) {
    while (*s) {
        if (*s == '\n') serial_putc('\r');
        serial_putc(*s++);
    }
}

void serial_put_u64(uint64_t v) {
    char buf[21];
    int i = 20;
    buf[i] = 0;
    do {
        buf[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    serial_puts(buf + i);
}

void serial_put_hex(uint64_t v) {
    static const char digits[] = "0123456789abcdef";
    char buf[19];
    buf[18] = 0;
    for (int i = 17; i >= 2; --i, v >>= 4) buf[i] = digits[v & 15];
    buf[0] = '0';
    buf[1] = 'x';
    serial_puts(buf);
}
