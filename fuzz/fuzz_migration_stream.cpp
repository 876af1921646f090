// Fuzz target "migration_stream" (fuzz/README.md): what a migration
// destination does with the bytes a source sends.  The stream goes through
// the real receiving engine (migration/engine Incoming: the stream reader
// and its checks, RAM records into a fake guest RAM, the multifd hello,
// the return-path request, TAP sections - without fds here -, the shared
// RAM identity), then the device sections through decode_vm (the
// generated visitors and validators of every device's state).  Beside it,
// the other byte formats a destination or source reads: the CPR state
// (MCPR, as cpr-transfer receives it) and the destination's verdict.
//
// The first byte picks the stage:
//   'r' STREAM     the rest is the stream, as is
//   's' RECORDS    the rest describes records (build_stream()), which the
//                  real StreamWriter encodes - so CRCs are right and the
//                  fuzzer reaches what lies behind them - with optional
//                  corruption of one byte
//   'c' BYTES      CprState::receive over a socketpair
//   'v' BYTES      await_verdict over a socketpair
// Any other first byte: 'r' or 's' by its lowest bit.
// Setting MOLT_FUZZ_WRITE_STREAM=FILE makes 's' write the stream it built
// to FILE (how the 'r' seeds were made).  Everything runs in-process on a
// memfd or a socketpair filled before reading: nothing blocks.
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "migration/cpr_state.h"
#include "migration/engine/device_sections.h"
#include "migration/engine/incoming.h"
#include "migration/engine/verdict.h"
#include "migration/stream/writer.h"

namespace {

using namespace molt;
using namespace molt::migration;

constexpr size_t kRamBytes = size_t{512} * stream::kPageBytes;   // molt -m 2M

void check(bool ok) {
    if (!ok) __builtin_trap();
}

UniqueFd memfd_with(std::span<const uint8_t> bytes) {
    UniqueFd fd(memfd_create("fuzz-stream", MFD_CLOEXEC));
    check(static_cast<bool>(fd));
    size_t done = 0;
    while (done < bytes.size()) {
        ssize_t n = write(fd.get(), bytes.data() + done, bytes.size() - done);
        check(n > 0);
        done += static_cast<size_t>(n);
    }
    check(lseek(fd.get(), 0, SEEK_SET) == 0);
    return fd;
}

// The destination: the engine reads the stream into RAM, then the device
// sections are decoded as the main thread would before loading them.
void receive(UniqueFd fd) {
    static std::vector<uint8_t> ram(kRamBytes);
    Incoming in(ram, std::move(fd), -1, std::nullopt, [] {});
    in.start();
    while (!in.finished()) usleep(50);
    if (in.error()) return;
    std::vector<stream::SectionRecord> sections = in.take_sections();
    (void)in.take_taps();
    (void)decode_vm(sections);
}

// Reads the records of a 's' input; see build_stream().
class Cursor {
public:
    explicit Cursor(std::span<const uint8_t> d) : m_d(d) {}
    bool more() const { return m_pos < m_d.size(); }
    uint8_t u8() { return more() ? m_d[m_pos++] : 0; }
    uint16_t u16() { return static_cast<uint16_t>(u8() | (u8() << 8)); }
    std::span<const uint8_t> bytes(size_t n) {
        n = std::min(n, m_d.size() - m_pos);
        auto s = m_d.subspan(m_pos, n);
        m_pos += n;
        return s;
    }

private:
    std::span<const uint8_t> m_d;
    size_t m_pos = 0;
};

const char* const kIds[] = {"vm/status", "cpu/0", "serial/com1", "virtio-net/net0",
                            "migration/multifd", "migration/return-path", "migration/ram-shared",
                            "tap/net0", "unknown/section"};

// Records, each an opcode byte (mod 6) and its operands:
//   0 section  id (a byte: an index into kIds, or 0xff then a length byte and
//              the id), instance, version, min_version bytes, a 16-bit
//              payload length, the payload
//   1 RAM data first page, page count (1..4) bytes; each page filled with one
//              byte that follows
//   2 zero run 16-bit first page, 16-bit page count
//   3 pass end one byte
//   4 corrupt  16-bit offset, XOR byte: applied to the encoded stream
//   5 stop     the stream ends here, without its end marker
std::vector<uint8_t> build_stream(std::span<const uint8_t> input) {
    UniqueFd out(memfd_create("fuzz-build", MFD_CLOEXEC));
    check(static_cast<bool>(out));
    stream::StreamWriter w(UniqueFd(dup(out.get())));
    check(static_cast<bool>(w.write_header()));
    Cursor c(input);
    std::vector<std::pair<uint16_t, uint8_t>> corruptions;
    bool ended = false;
    while (c.more() && !ended) {
        switch (c.u8() % 6) {
        case 0: {
            uint8_t pick = c.u8();
            std::string id;
            if (pick == 0xff) {
                auto b = c.bytes(c.u8());
                id.assign(b.begin(), b.end());
            } else {
                id = kIds[pick % std::size(kIds)];
            }
            stream::SectionInfo info{id, c.u8(), c.u8(), c.u8()};
            auto payload = c.bytes(c.u16());
            if (stream::valid_section_id(id) && info.min_version <= info.version) {
                (void)w.write_section(info, payload);
            }
            break;
        }
        case 1: {
            uint64_t first = c.u8();
            size_t count = c.u8() % 4 + 1;
            std::vector<uint8_t> pages(count * stream::kPageBytes);
            for (size_t i = 0; i < count; i++) {
                std::memset(pages.data() + i * stream::kPageBytes, c.u8(), stream::kPageBytes);
            }
            (void)w.write_ram_data(first, pages);
            break;
        }
        case 2: {
            uint64_t first = c.u16();
            uint32_t count = c.u16();
            if (count > 0) (void)w.write_zero_pages(first, count);
            break;
        }
        case 3: (void)w.write_iteration_end(c.u8()); break;
        case 4: {
            uint16_t at = c.u16();
            corruptions.emplace_back(at, c.u8());
            break;
        }
        default: ended = true;
        }
    }
    if (!ended) (void)w.write_end();
    (void)w.flush();
    off_t size = lseek(out.get(), 0, SEEK_END);
    check(size >= 0);
    std::vector<uint8_t> bytes(static_cast<size_t>(size));
    check(pread(out.get(), bytes.data(), bytes.size(), 0) == size);
    for (auto [at, x] : corruptions) {
        if (at < bytes.size()) bytes[at] ^= x;
    }
    return bytes;
}

void socket_stage(std::span<const uint8_t> bytes, bool cpr) {
    int sv[2];
    check(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
    UniqueFd mine(sv[0]), peer(sv[1]);
    check(send(peer.get(), bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(bytes.size()));
    shutdown(peer.get(), SHUT_WR);
    if (cpr) {
        (void)CprState::receive(mine.get(), 1000);
    } else {
        (void)await_verdict(mine.get(), 1000);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
    if (size == 0 || size > 65536) return 0;
    std::span<const uint8_t> rest(data + 1, size - 1);
    char stage = static_cast<char>(data[0]);
    if (stage != 'r' && stage != 's' && stage != 'c' && stage != 'v') stage = (data[0] & 1) ? 's' : 'r';
    switch (stage) {
    case 'r': receive(memfd_with(rest)); break;
    case 's': {
        std::vector<uint8_t> stream = build_stream(rest);
        if (const char* path = std::getenv("MOLT_FUZZ_WRITE_STREAM")) {
            std::ofstream(path, std::ios::binary)
                .write(reinterpret_cast<const char*>(stream.data()), static_cast<std::streamsize>(stream.size()));
        }
        receive(memfd_with(stream));
        break;
    }
    case 'c': socket_stage(rest, true); break;
    default: socket_stage(rest, false); break;
    }
    return 0;
}
