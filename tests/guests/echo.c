/* The virtio-net echo guest (DESIGN.md "Guests"): a polling virtio-mmio
 * driver (virtio 1.2 sections 3.1, 4.2.3) for the first virtio_mmio node
 * of the device tree, answering ARP for its address (10.9.0.2) and
 * echoing every UDP datagram sent to port 7777 back to its sender.  It
 * reports on the serial port when ready and counts the datagrams. */
#include "guest.h"

#define QSIZE 16
#define BUF 2048
#define HDR 12              /* virtio_net_hdr_v1 */
#define ECHO_PORT 7777

static const uint8_t my_ip[4] = {10, 9, 0, 2};

struct desc { uint64_t addr; uint32_t len; uint16_t flags, next; };
struct avail { uint16_t flags, idx, ring[QSIZE]; };
struct used_elem { uint32_t id, len; };
struct used { uint16_t flags, idx; struct used_elem ring[QSIZE]; };

struct queue {
    struct desc d[QSIZE] __attribute__((aligned(16)));
    struct avail a __attribute__((aligned(2)));
    struct used u __attribute__((aligned(4)));
    uint16_t last_used;
};

static struct queue rxq __attribute__((aligned(4096))), txq __attribute__((aligned(4096)));
static uint8_t rxbuf[QSIZE][BUF] __attribute__((aligned(16)));
static uint8_t txbuf[BUF] __attribute__((aligned(16)));
static volatile uint32_t *mmio;
static uint8_t my_mac[6];

static uint32_t rd(uint32_t off) { return mmio[off / 4]; }
static void wr(uint32_t off, uint32_t v) { mmio[off / 4] = v; }

static void setup_queue(uint32_t index, struct queue *q) {
    wr(0x030, index);
    wr(0x038, QSIZE);
    wr(0x080, (uint32_t)(uint64_t)q->d);
    wr(0x084, (uint32_t)((uint64_t)q->d >> 32));
    wr(0x090, (uint32_t)(uint64_t)&q->a);
    wr(0x094, 0);
    wr(0x0a0, (uint32_t)(uint64_t)&q->u);
    wr(0x0a4, 0);
    wr(0x044, 1);
}

static void post_rx(uint16_t i) {
    rxq.d[i].addr = (uint64_t)rxbuf[i];
    rxq.d[i].len = BUF;
    rxq.d[i].flags = 2; /* device writes */
    rxq.a.ring[rxq.a.idx % QSIZE] = i;
    __asm__ volatile("" ::: "memory");
    rxq.a.idx++;
}

static void transmit(uint32_t len) {
    txq.d[0].addr = (uint64_t)txbuf;
    txq.d[0].len = len;
    txq.d[0].flags = 0;
    txq.a.ring[txq.a.idx % QSIZE] = 0;
    __asm__ volatile("" ::: "memory");
    txq.a.idx++;
    wr(0x050, 1);
    while (*(volatile uint16_t *)&txq.u.idx == txq.last_used) {
    }
    txq.last_used++;
}

static int eq(const uint8_t *a, const uint8_t *b, int n) {
    for (int i = 0; i < n; i++)
        if (a[i] != b[i]) return 0;
    return 1;
}

static void copy(uint8_t *d, const uint8_t *s, uint32_t n) { while (n--) *d++ = *s++; }

static uint16_t csum(const uint8_t *p, int n) {
    uint32_t sum = 0;
    for (int i = 0; i + 1 < n; i += 2) sum += (uint32_t)p[i] << 8 | p[i + 1];
    while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

static uint64_t echoed;

/* Builds the answer in txbuf; returns its length or 0. */
static uint32_t answer(const uint8_t *f, uint32_t len) {
    const uint8_t *eth = f + HDR;
    if (len < HDR + 14) return 0;
    for (int i = 0; i < HDR; i++) txbuf[i] = 0;
    uint8_t *out = txbuf + HDR;
    if (eth[12] == 0x08 && eth[13] == 0x06 && len >= HDR + 42) {          /* ARP */
        const uint8_t *arp = eth + 14;
        if (arp[7] != 1 || !eq(arp + 24, my_ip, 4)) return 0;          /* request for us */
        copy(out, eth + 6, 6);
        copy(out + 6, my_mac, 6);
        out[12] = 0x08; out[13] = 0x06;
        uint8_t *r = out + 14;
        copy(r, arp, 6);
        r[6] = 0; r[7] = 2;                                            /* reply */
        copy(r + 8, my_mac, 6);
        copy(r + 14, my_ip, 4);
        copy(r + 18, arp + 8, 10);                                     /* sender -> target */
        return HDR + 42;
    }
    if (eth[12] != 0x08 || eth[13] != 0x00 || len < HDR + 14 + 28) return 0;
    const uint8_t *ip = eth + 14;
    uint32_t ihl = (ip[0] & 15) * 4u;
    uint32_t total = (uint32_t)ip[2] << 8 | ip[3];
    if (ip[9] != 17 || ihl < 20 || total < ihl + 8 || HDR + 14 + total > len) return 0;
    if (!eq(ip + 16, my_ip, 4)) return 0;
    const uint8_t *udp = ip + ihl;
    if (((uint32_t)udp[2] << 8 | udp[3]) != ECHO_PORT) return 0;
    copy(out, eth + 6, 6);
    copy(out + 6, my_mac, 6);
    out[12] = 0x08; out[13] = 0x00;
    uint8_t *oip = out + 14;
    copy(oip, ip, total);
    copy(oip + 12, ip + 16, 4);
    copy(oip + 16, ip + 12, 4);
    oip[8] = 64;
    oip[10] = oip[11] = 0;
    uint16_t c = csum(oip, (int)ihl);
    oip[10] = (uint8_t)(c >> 8); oip[11] = (uint8_t)c;
    uint8_t *oudp = oip + ihl;
    copy(oudp, udp + 2, 2);
    copy(oudp + 2, udp, 2);
    oudp[6] = oudp[7] = 0;                                             /* no UDP checksum */
    echoed++;
    return HDR + 14 + total;
}

void guest_main(const void *fdt) {
    serial_init();
    uint32_t len = 0;
    const void *reg = fdt_prop(fdt, "virtio_mmio", "reg", &len);
    if (!reg || len < 16) {
        serial_puts("echo: FAIL no virtio_mmio node\n");
        return;
    }
    mmio = (volatile uint32_t *)fdt_be64(reg);
    if (rd(0x000) != 0x74726976 || rd(0x004) != 2 || rd(0x008) != 1) {
        serial_puts("echo: FAIL not a virtio-net device\n");
        return;
    }
    wr(0x070, 0);
    wr(0x070, 1);
    wr(0x070, 3);
    wr(0x024, 0);
    wr(0x020, 1u << 5);         /* MAC */
    wr(0x024, 1);
    wr(0x020, 1);               /* VERSION_1 */
    wr(0x070, 11);
    if (!(rd(0x070) & 8)) {
        serial_puts("echo: FAIL features refused\n");
        return;
    }
    for (int i = 0; i < 6; i++) my_mac[i] = ((volatile uint8_t *)mmio)[0x100 + i];
    setup_queue(0, &rxq);
    setup_queue(1, &txq);
    for (uint16_t i = 0; i < QSIZE; i++) post_rx(i);
    wr(0x070, 15);
    wr(0x050, 0);
    serial_puts("echo: ready mac ");
    serial_put_hex(my_mac[5]);
    serial_puts(" ip 10.9.0.2 port 7777\n");
    for (;;) {
        while (*(volatile uint16_t *)&rxq.u.idx == rxq.last_used) {
            if (rd(0x070) & 0x40) {
                serial_puts("echo: FAIL device needs reset\n");
                return;
            }
        }
        struct used_elem e = rxq.u.ring[rxq.last_used % QSIZE];
        rxq.last_used++;
        uint32_t n = e.id < QSIZE ? answer(rxbuf[e.id], e.len) : 0;
        if (n) {
            transmit(n);
            if (echoed % 10 == 0 || echoed < 4) {
                serial_puts("echo: ");
                serial_put_u64(echoed);
                serial_puts("\n");
            }
        }
        post_rx((uint16_t)(e.id % QSIZE));
        wr(0x050, 0);
    }
}
