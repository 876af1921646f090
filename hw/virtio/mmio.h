// The virtio-mmio transport, version 2 (hw/virtio), per virtio 1.2
// section 4.2: a 0x200-byte register window on the MMIO bus in front of
// one virtio Device.
//
// It keeps the device status and its rules (4.2.3.1, 3.1.1): features
// are accepted at FEATURES_OK only if they are a subset of the device's
// and include VERSION_1; DRIVER_OK validates every ready queue and
// activates the device; any Error from the device, or a malformed queue,
// sets NEEDS_RESET and stops the device until the driver resets it
// (writes 0 to Status) - the guest's mistakes never stop molt.  Register
// accesses must be 32 bits wide (config space: any width).  Used buffers
// and configuration changes set InterruptStatus (4.2.2); the IRQ line is
// high while it is non-zero, until the driver acknowledges.
// Called on the vCPU thread; a mutex orders it with the main loop.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "hw/bus.h"
#include "hw/irq.h"
#include "hw/virtio/device.h"

namespace molt::hw::virtio {

class MmioTransport : public BusDevice {
public:
    static constexpr uint64_t kWindowBytes = 0x200;
    static constexpr uint32_t kMagic = 0x74726976;     // "virt"
    static constexpr uint32_t kVendorId = 0x746c6f6d;  // "molt"

    // Status bits (2.1).
    static constexpr uint32_t kAcknowledge = 1, kDriver = 2, kDriverOk = 4, kFeaturesOk = 8,
                              kNeedsReset = 0x40, kFailed = 0x80;

    MmioTransport(std::unique_ptr<Device> device, const GuestMemory& ram);

    // The interrupt line (before the vCPU runs; default: none).
    void set_irq(IrqLine* irq) { m_irq = irq; }

    void read(uint64_t offset, std::span<uint8_t> data) override;
    void write(uint64_t offset, std::span<const uint8_t> data) override;

    // Power-on reset (system_reset): as if the driver wrote 0 to Status.
    void device_reset();

    // The backend has work (main loop): runs Device::backend_ready()
    // under the lock, unless the device is not running.
    void backend_ready();

    // Device state (STYLE.md 6; mmio_state.cpp).  check_state() refuses
    // a state this transport cannot be in, naming the field: status
    // beyond 8 bits, FEATURES_OK with features the device does not offer
    // (or without VERSION_1), unknown InterruptStatus bits, another
    // number of queues, and, while the device runs (DRIVER_OK without
    // NEEDS_RESET), a ready queue that validate() would refuse.  load()
    // checks, then replaces the registers and queues; the device model
    // is reset and, with DRIVER_OK, re-bound to its queues
    // (Device::restore) without running; the IRQ line follows
    // InterruptStatus.  The model's own state (Net::load) goes after
    // this, inside with_device_lock().  On an Error nothing changed.
    // Main thread, with the vCPU paused.
    api::VirtioMmioState save() const;
    Result<void> check_state(const api::VirtioMmioState& state) const;
    Result<void> load(const api::VirtioMmioState& state);
    // Runs fn() with the lock held that guards the device model (for its
    // own state save and load).  Main thread.
    template <class Fn>
    decltype(auto) with_device_lock(Fn&& fn) const {
        std::lock_guard guard(m_lock);
        return fn();
    }

    uint32_t status() const;
    uint32_t interrupt_status() const;
    // Why the device needs a reset (empty if it does not).
    std::string failure() const;
    Device& device() { return *m_device; }

private:
    uint32_t read_register(uint64_t offset);
    void write_register(uint64_t offset, uint32_t value);
    void write_status(uint32_t value);
    void fail(const Error& e);
    // After the device ran: used-buffer interrupts, and the line's level.
    void update_interrupt();
    Queue* selected();
    void reset();
    Result<void> check_state_locked(const api::VirtioMmioState& state) const;

    mutable std::mutex m_lock;
    std::unique_ptr<Device> m_device;
    const GuestMemory& m_ram;
    std::vector<Queue> m_queues;
    uint32_t m_status = 0;
    uint32_t m_device_features_sel = 0;
    uint32_t m_driver_features_sel = 0;
    uint64_t m_driver_features = 0;
    uint32_t m_queue_sel = 0;
    uint32_t m_interrupt_status = 0;
    uint32_t m_config_generation = 0;
    std::string m_failure;
    IrqLine* m_irq = nullptr;
};

}  // namespace molt::hw::virtio
