/* The console guest: reads the serial port (polling LSR.DR) and echoes
 * each character upper-cased, until 'q'.  Proves molt's serial input. */
#include "guest.h"

#define COM1 0x3f8

static char serial_getc(void) {
    while (!(inb(COM1 + 5) & 0x01)) {
    }
    return (char)inb(COM1);
}

void guest_main(void) {
    serial_init();
    serial_puts("console: ready\n");
    for (;;) {
        char c = serial_getc();
        if (c == 'q') break;
        if (c >= 'a' && c <= 'z') c = (char)(c - 'a' + 'A');
        serial_putc(c);
    }
    serial_puts("\nconsole: bye\n");
}
