// The machine (hw/machine): guest RAM, the buses, the devices and the
// vCPU, wired in one place (STYLE.md 1).
//
// Today: one vCPU on the kvm or tcg accelerator, a 16550 UART at COM1, guest RAM
// from a memory backend, and a device tree; a guest is an ELF test image
// (-kernel), entered with RDI pointing at the device tree.
// Without -kernel there is no guest code and the vCPU stays halted, as
// QEMU without a boot device.  Lock order: machine, then device.  Main
// thread, except notify (vCPU thread).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <array>
#include <vector>

#include "hw/accel/kvm/kvm.h"
#include "hw/accel/vcpu.h"
#include "hw/bus.h"
#include "hw/memory/guest_memory.h"
#include "hw/serial/serial.h"
#include "hw/vcpu_thread.h"
#include "hw/virtio/mmio.h"
#include "hw/virtio/net/net.h"

namespace molt::hw {

struct NetSetup {
    std::string id;              // -device id (or the netdev's)
    virtio::Tap tap;
    std::array<uint8_t, 6> mac;
};

struct MachineSetup {
    enum class Accel { Kvm, Tcg };
    Accel accel = Accel::Tcg;
    std::optional<std::string> kernel;   // an ELF test guest
    std::string bootargs;                // -append, in /chosen
    UniqueFd serial_out;                 // empty: serial output dropped
    std::vector<NetSetup> nets;          // virtio-net devices, in order
};

// virtio-mmio windows: one per device from here up, kVirtioStride apart.
inline constexpr uint64_t kVirtioBase = 0xd0000000;
inline constexpr uint64_t kVirtioStride = 0x1000;

class Machine {
public:
    // ram must outlive the machine.  notify is called on the vCPU thread
    // when the vCPU halts or faults; it must only wake the main loop.
    static Result<std::unique_ptr<Machine>> create(MachineSetup setup, std::span<uint8_t> ram,
                                                   std::function<void()> notify);
    ~Machine();

    void resume();
    void pause();
    // Power-on state: devices reset, the guest image reloaded, vCPU at its
    // entry point; the caller resumes if the VM was running.
    Result<void> reset();

    bool has_guest() const { return m_vcpu != nullptr; }
    // The device tree as the guest gets it (-machine dumpdtb).
    const std::vector<uint8_t>& fdt() const { return m_fdt; }
    // vCPU 0's state, read with the vCPU paused (and resumed afterwards if
    // it was running).  An error without a guest.
    Result<api::X86CpuState> cpu_state();

    // Dirty page tracking for migration: guest writes (KVM's dirty log, or
    // tcg's write hook) and the VMM's own writes to guest RAM.  sync
    // returns the pages written since start or the previous sync, one bit
    // per 4 KiB page, and clears them.  Main thread.
    Result<void> start_dirty_log();
    Result<std::vector<uint64_t>> sync_dirty_log();
    Result<void> stop_dirty_log();
    // Whether the dirty page tracking is on (its owner, a migration or a
    // dirty rate measurement, must be the only one).
    bool dirty_log_active() const { return m_dirty != nullptr; }
    // Guest RAM, for readers such as dirty rate sampling (main thread).
    const GuestMemory& ram() const { return m_ram; }

    // A fault the vCPU hit since the last call (main thread).
    std::optional<Error> take_failure();
    VcpuThread::State vcpu_state() const;

    // Bytes typed on the serial port's host side (main loop).
    void serial_input(std::span<const uint8_t> bytes) { m_serial.receive(bytes); }

    // The virtio-net devices, for the main loop: their TAP fds, "the TAP
    // is readable", and whether to watch it at all just now.
    size_t net_count() const { return m_nets.size(); }
    int net_fd(size_t i) const { return m_nets[i].net->tap().fd(); }
    void net_backend_ready(size_t i) { m_nets[i].transport->backend_ready(); }
    bool net_wants_input(size_t i) const { return m_nets[i].net->wants_tap_readable(); }

private:
    Machine(MachineSetup setup, std::span<uint8_t> ram);
    Result<void> load_guest();
    Result<void> create_vcpu();
    // The vCPU out of guest code for the main thread to read or change it;
    // returns whether to resume it afterwards.
    bool pause_for_access();
    void resume_after_access(bool was_running);

    MachineSetup m_setup;
    GuestMemory m_ram;
    std::vector<uint8_t> m_fdt;
    Bus m_pio{"port I/O"};
    Bus m_mmio{"MMIO"};
    Serial16550 m_serial;
    struct NetDevice {
        virtio::Net* net;                                // owned by the transport
        std::unique_ptr<virtio::MmioTransport> transport;
    };
    std::vector<NetDevice> m_nets;
    std::unique_ptr<kvm::Kvm> m_kvm;     // kvm only; outlive the vCPU
    std::unique_ptr<kvm::VmFd> m_vm;
    std::unique_ptr<Vcpu> m_vcpu;
    std::unique_ptr<DirtyBitmap> m_dirty;   // while tracking
    std::unique_ptr<VcpuThread> m_thread;
    bool m_failure_reported = false;
};

}  // namespace molt::hw
