/* The smallest test guest: says hello over the serial port, proves that
 * memory and arithmetic work, and halts. */
#include "guest.h"

static volatile uint64_t counter;

void guest_main(void) {
    serial_init();
    serial_puts("molt guest: hello\n");
    uint64_t sum = 0;
    for (uint64_t i = 1; i <= 1000; ++i) {
        counter = i;
        sum += counter;
    }
    serial_puts("molt guest: sum 1..1000 = ");
    serial_put_u64(sum);
    serial_puts(sum == 500500 ? "\nmolt guest: PASS\n" : "\nmolt guest: FAIL\n");
}
