// Unit tests of the machine's parts (hw/): the buses, the 16550 UART's
// registers and backend fd, GuestMemory's bounds, and the ELF loader's
// checks on bad images (each rejected before anything is written).
#include <doctest/doctest.h>

#include <elf.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "hw/boot/elf_loader.h"
#include "hw/bus.h"
#include "hw/serial/serial.h"
#include "hw_support.h"

using namespace molt;
using namespace molt::hw;
using namespace molt::hw::test;

namespace {

struct Recorder : BusDevice {
    uint64_t last_offset = ~0ull;
    void read(uint64_t offset, std::span<uint8_t> data) override {
        last_offset = offset;
        std::memset(data.data(), 0x5a, data.size());
    }
    void write(uint64_t offset, std::span<const uint8_t>) override { last_offset = offset; }
};

}  // namespace

TEST_CASE("bus: ranges never overlap; lookups give offsets; gaps miss") {
    Bus bus("test");
    Recorder a, b;
    REQUIRE(bus.insert(0x3f8, 8, &a));
    REQUIRE(bus.insert(0x400, 4, &b));
    CHECK_FALSE(bus.insert(0x3fc, 8, &b));
    CHECK_FALSE(bus.insert(0x3f0, 9, &b));
    CHECK_FALSE(bus.insert(0, 0, &b));
    uint8_t byte = 0;
    CHECK(bus.read(0x3fd, std::span(&byte, 1)));
    CHECK(a.last_offset == 5);
    CHECK(byte == 0x5a);
    CHECK_FALSE(bus.read(0x3f0, std::span(&byte, 1)));
    uint8_t word[4];
    CHECK_FALSE(bus.read(0x3fe, std::span(word, 4)));   // crosses the end
    CHECK(bus.write(0x403, std::span<const uint8_t>(&byte, 1)));
    CHECK(b.last_offset == 3);
}

TEST_CASE("16550: THR to the backend, LSR, DLAB, loopback, scratch, receive") {
    int p[2];
    REQUIRE(pipe2(p, O_CLOEXEC | O_NONBLOCK) == 0);
    UniqueFd rd(p[0]);
    Serial16550 uart{UniqueFd(p[1])};
    auto wr = [&](uint64_t reg, uint8_t v) { uart.write(reg, std::span<const uint8_t>(&v, 1)); };
    auto rdreg = [&](uint64_t reg) {
        uint8_t v = 0;
        uart.read(reg, std::span(&v, 1));
        return v;
    };
    CHECK((rdreg(5) & 0x60) == 0x60);   // THR empty, idle
    wr(0, 'h');
    wr(0, 'i');
    char out[4] = {};
    CHECK(read(rd.get(), out, sizeof(out)) == 2);
    CHECK(std::string(out, 2) == "hi");
    wr(3, 0x80);                         // DLAB
    wr(0, 0x01);
    wr(1, 0x02);
    CHECK(rdreg(0) == 0x01);
    CHECK(rdreg(1) == 0x02);
    wr(3, 0x03);
    wr(7, 0x42);
    CHECK(rdreg(7) == 0x42);
    wr(4, 0x10);                         // loopback
    wr(0, 'x');
    CHECK((rdreg(5) & 1) == 1);
    CHECK(rdreg(0) == 'x');
    CHECK((rdreg(5) & 1) == 0);
    CHECK(read(rd.get(), out, sizeof(out)) < 0);   // nothing went out
    wr(4, 0);
    const uint8_t in[] = {'a', 'b'};
    uart.receive(in);
    CHECK(rdreg(0) == 'a');
    CHECK(rdreg(0) == 'b');
    std::vector<uint8_t> flood(Serial16550::kRxQueueLimit + 10, 'z');
    uart.receive(flood);
    CHECK((rdreg(5) & 0x02) == 0x02);    // overrun, reported once
    CHECK((rdreg(5) & 0x02) == 0);
    uart.reset();
    CHECK((rdreg(5) & 1) == 0);
}

TEST_CASE("16550: set_output swaps the backend; a full or missing one drops bytes") {
    int a[2], b[2];
    REQUIRE(pipe2(a, O_CLOEXEC | O_NONBLOCK) == 0);
    REQUIRE(pipe2(b, O_CLOEXEC | O_NONBLOCK) == 0);
    UniqueFd rd_a(a[0]), rd_b(b[0]);
    Serial16550 uart{UniqueFd(a[1])};
    auto put = [&](uint8_t v) { uart.write(0, std::span<const uint8_t>(&v, 1)); };
    char out[8] = {};
    put('1');
    uart.set_output(UniqueFd(b[1]));
    put('2');
    CHECK(read(rd_a.get(), out, sizeof(out)) == 1);
    CHECK(out[0] == '1');
    CHECK(read(rd_a.get(), out, sizeof(out)) == 0);   // the old write end was closed
    CHECK(read(rd_b.get(), out, sizeof(out)) == 1);
    CHECK(out[0] == '2');
    // A full non-blocking pipe: the byte is lost, the vCPU goes on.
    std::vector<char> fill(1 << 20, 'f');
    while (write(b[1], fill.data(), fill.size()) > 0) {
    }
    put('3');
    uart.set_output(UniqueFd());
    put('4');                                          // no backend: dropped
    size_t total = 0;
    ssize_t n;
    while ((n = read(rd_b.get(), fill.data(), fill.size())) > 0) {
        CHECK(std::count(fill.begin(), fill.begin() + n, 'f') == n);
        total += static_cast<size_t>(n);
    }
    CHECK(n == 0);
    CHECK(total > 0);
}

TEST_CASE("GuestMemory: every access is bounds-checked") {
    std::vector<uint8_t> host(4096);
    GuestMemory ram(host);
    uint8_t buf[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    CHECK(ram.write(4088, buf));
    CHECK_FALSE(ram.write(4089, buf));
    CHECK_FALSE(ram.read(~0ull - 2, std::span(buf, 4)));
    CHECK_FALSE(ram.fill(4000, 100, 0));
    CHECK(*ram.read_obj<uint64_t>(4088) == 0x0807060504030201ull);
    auto r = ram.read(5000, std::span(buf, 1));
    REQUIRE_FALSE(r);
    CHECK(r.error().message() == "guest address range 0x1388+0x1 is outside RAM");
}

TEST_CASE("ELF loader: loads a good image, refuses bad ones before writing") {
    std::vector<uint8_t> host(1 << 21, 0xcc);
    GuestMemory ram(host);
    std::string good = temp_file(make_elf(0x100000, {0xf4, 0xeb, 0xfd}, 16));
    auto img = load_elf(good, ram);
    REQUIRE(img);
    CHECK(img->entry == 0x100000);
    CHECK(host[0x100000] == 0xf4);
    CHECK(host[0x100003] == 0);   // BSS zeroed
    CHECK(host[0x100010] == 0xcc);

    auto refuses = [&](std::vector<uint8_t> bytes, std::string_view what) {
        std::fill(host.begin(), host.end(), 0xcc);
        std::string path = temp_file(bytes);
        auto r = load_elf(path, ram);
        unlink(path.c_str());
        REQUIRE_FALSE(r);
        CHECK(r.error().message().find(what) != std::string::npos);
        CHECK(std::all_of(host.begin(), host.end(), [](uint8_t b) { return b == 0xcc; }));
    };
    refuses({1, 2, 3}, "is not an ELF file");
    refuses(make_elf(0x1f0000, std::vector<uint8_t>(0x20000, 1)), "does not fit in guest RAM");
    auto bad_machine = make_elf(0x100000, {0xf4});
    bad_machine[18] = 0x28;   // e_machine = EM_ARM
    refuses(bad_machine, "not an x86-64 ELF file");
    auto truncated = make_elf(0x100000, std::vector<uint8_t>(64, 1));
    truncated.resize(truncated.size() - 10);
    refuses(truncated, "lies outside the file");
    auto bad_phoff = make_elf(0x100000, {0xf4});
    bad_phoff[32] = 0xff;     // e_phoff far beyond the file
    bad_phoff[33] = 0xff;
    refuses(bad_phoff, "program headers lie outside the file");
    auto many_segments = make_elf(0x100000, {0xf4});
    many_segments[56] = 65;   // e_phnum: one over kMaxSegments (64)
    refuses(many_segments, "bad ELF program header table");
    std::vector<uint8_t> bz(0x400, 0);
    std::memcpy(bz.data() + 0x202, "HdrS", 4);
    refuses(bz, "is a Linux bzImage, not an ELF file");
    unlink(good.c_str());
}
