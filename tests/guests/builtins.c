/* The few functions a compiler may call even in freestanding code (GCC and
 * clang both document memset, memcpy, memmove and memcmp as required), for
 * the test guests, which have no libc.  Plain byte loops: the guests only
 * need them for small arrays. */
#include "guest.h"

void *memset(void *dst, int c, size_t n) {
    volatile unsigned char *d = dst;   /* volatile: not turned back into memset */
    while (n--) *d++ = (unsigned char)c;
    return dst;
}

void *memcpy(void *dst, const void *src, size_t n) {
    volatile unsigned char *d = dst;
    const unsigned char *s = src;
    while (n--) *d++ = *s++;
    return dst;
}

void *memmove(void *dst, const void *src, size_t n) {
    volatile unsigned char *d = dst;
    const unsigned char *s = src;
    if (d < s) {
        while (n--) *d++ = *s++;
    } else {
        while (n--) d[n] = s[n];
    }
    return dst;
}

int memcmp(const void *a, const void *b, size_t n) {
    const unsigned char *x = a, *y = b;
    for (; n; --n, ++x, ++y) {
        if (*x != *y) return *x - *y;
    }
    return 0;
}
