/* The flood guest: prints numbered lines on the serial port as fast as it
 * can, forever: "flood 1 ....", "flood 2 ....", each 256 bytes with its
 * CR LF, written with one `rep outsb` (one exit under KVM) without waiting
 * for THR empty (molt's transmitter is always empty).  A console client
 * that does not read must not stall it: the numbers it misses show what
 * was dropped. */
#include "guest.h"

#define COM1 0x3f8
#define LINE_BYTES 256

static void put_line(uint64_t n) {
    char line[LINE_BYTES] = "flood ";
    char digits[21];
    size_t len = 6, d = 0;
    do {
        digits[d++] = (char)('0' + n % 10);
        n /= 10;
    } while (n);
    while (d) line[len++] = digits[--d];
    line[len++] = ' ';
    while (len < LINE_BYTES - 2) line[len++] = '.';
    line[len++] = '\r';
    line[len++] = '\n';
    const char *p = line;
    __asm__ volatile("rep outsb" : "+S"(p), "+c"(len) : "d"((uint16_t)COM1) : "memory");
}

void guest_main(void) {
    serial_init();
    for (uint64_t i = 1;; ++i) put_line(i);
}
