// An interrupt line from a device to the machine's interrupt controller
// (hw/).  A device drives its line's level: high while it has an
// interrupt pending and enabled, low otherwise, as the wire on a board.
// The controller decides what an edge or a level means (the KVM in-kernel
// IOAPIC and PIC; under tcg nothing is injected and guests poll).
// set_level may be called on any thread, with the device's lock held.
#pragma once

namespace molt::hw {

class IrqLine {
public:
    virtual ~IrqLine() = default;
    virtual void set_level(bool high) = 0;
};

// A line that goes nowhere (tcg, unit tests).
class NoIrqLine final : public IrqLine {
public:
    void set_level(bool) override {}
};

}  // namespace molt::hw
