/* A guest that breaks: it reports, then touches memory far outside its
 * RAM.  molt must stop it (internal-error) and keep running. */
#include "guest.h"

void guest_main(void) {
    serial_init();
    serial_puts("molt guest: about to fault\n");
    volatile uint64_t *far = (volatile uint64_t *)0x7fff00000000ull;
    *far = 1;
    serial_puts("molt guest: still running (wrong)\n");
}
