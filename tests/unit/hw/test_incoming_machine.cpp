// Unit test of a machine created as an incoming migration's destination
// (MachineSetup::incoming): it writes nothing into guest RAM at creation,
// since RAM comes from the source, which with x-ignore-shared still runs
// on that very memory; a reset loads the image as at power-on.
#include <doctest/doctest.h>

#include <algorithm>
#include <vector>

#include "hw/machine.h"
#include "hw_support.h"

using namespace molt;
using namespace molt::hw;
using namespace molt::hw::test;

TEST_CASE("incoming machine: creation leaves guest RAM alone, reset loads the image") {
    Ram ram;
    std::fill(ram.span().begin(), ram.span().end(), uint8_t{0xaa});
    std::string path = temp_file(make_elf(0x100000, {0xf4}));
    {
        MachineSetup setup;
        setup.accel = MachineSetup::Accel::Tcg;
        setup.kernel = path;
        setup.incoming = true;
        auto m = Machine::create(std::move(setup), ram.span(), [] {});
        REQUIRE(m);
        CHECK((*m)->has_guest());
        CHECK(std::all_of(ram.span().begin(), ram.span().end(), [](uint8_t b) { return b == 0xaa; }));
        REQUIRE((*m)->reset());
        CHECK(ram.span()[0x100000] == 0xf4);   // the image
        CHECK(ram.span()[0x80000] == 0xd0);    // the device tree's magic, big-endian
    }
    unlink(path.c_str());
}
