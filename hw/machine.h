// The machine (hw/machine): guest RAM, the buses, the devices and the
// vCPU, wired in one place (STYLE.md 1).
//
// One vCPU on the kvm or tcg accelerator, guest RAM from a memory backend,
// a 16550 UART at COM1 (IRQ 4) and virtio-mmio devices (IOAPIC inputs 16
// and up).  With kvm, the in-kernel irqchip (PIC, IOAPIC, local APIC) and
// PIT take the devices' interrupt lines; tcg injects none (guests poll).
// A guest (-kernel) is an ELF test image, entered with RDI pointing at the
// device tree, or (kvm only) a Linux bzImage with -initrd and -append,
// which finds its devices in ACPI tables.  Without -kernel there is no
// guest code and the vCPU stays halted, as QEMU without a boot device.
// system_reset gives a kvm guest a fresh VM (a true power-on state of the
// irqchip, timers and MSRs).  A paused machine runs neither its vCPU nor
// its devices, and its state can be saved and loaded (migration,
// snapshots).  Lock order: machine, then device.  Main thread, except
// notify (vCPU thread).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <optional>
#include <string>
#include <array>
#include <vector>

#include "hw/accel/kvm/kvm.h"
#include "hw/accel/kvm/kvm_irq.h"
#include "hw/accel/tcg/tcg_engine.h"
#include "hw/accel/vcpu.h"
#include "hw/bus.h"
#include "hw/memory/guest_memory.h"
#include "hw/serial/serial.h"
#include "hw/vcpu_thread.h"
#include "hw/virtio/mmio.h"
#include "hw/virtio/net/net.h"
#include "qapi-types-machine-state.h"

namespace molt::hw {

struct NetSetup {
    std::string id;              // -device id (or the netdev's)
    virtio::Tap tap;
    std::array<uint8_t, 6> mac;
};

struct MachineSetup {
    enum class Accel { Kvm, Tcg };
    Accel accel = Accel::Tcg;
    std::optional<std::string> kernel;   // an ELF test guest or a Linux bzImage
    std::optional<std::string> initrd;   // Linux only
    std::string bootargs;                // -append: /chosen, or Linux's command line
    UniqueFd serial_out;                 // empty: serial output dropped
    std::vector<NetSetup> nets;          // virtio-net devices, in order
    // An incoming migration's destination: guest RAM and the vCPU come
    // from the source, so create() writes nothing into RAM (no image, no
    // device tree, no page tables), as QEMU loads no ROMs while INMIGRATE.
    // With x-ignore-shared the source still runs on that same memory.
    // reset() loads the image as usual.
    bool incoming = false;
    // tcg: an engine made ready while the VMM waited (a live update's
    // destination, before the old process's fds arrive); taken by the
    // first vCPU.
    std::optional<TcgEngine> tcg_engine;
};

// virtio-mmio windows: one per device from here up, kVirtioStride apart.
inline constexpr uint64_t kVirtioBase = 0xd0000000;
// Guest RAM layout, as a PC's: RAM up to kLowRamLimit (3.25 GiB) from
// guest-physical 0, the rest from 4 GiB (GuestMemory::kHighBase); the hole
// between holds the virtio-mmio windows, the IOAPIC and the local APIC.
// The top of RAM stays below kMaxGuestPhysical (1 TiB: 40-bit physical
// addresses, which every x86-64 host offers).
inline constexpr uint64_t kLowRamLimit = kVirtioBase;
inline constexpr uint64_t kMaxGuestPhysical = uint64_t{1} << 40;
inline constexpr uint64_t kVirtioStride = 0x1000;
inline constexpr uint32_t kVirtioFirstGsi = 16;
inline constexpr size_t kMaxVirtioDevices = 8;   // IOAPIC inputs 16-23

class Machine {
public:
    // ram must outlive the machine.  notify is called on the vCPU thread
    // when the vCPU halts or faults; it must only wake the main loop.
    static Result<std::unique_ptr<Machine>> create(MachineSetup setup, std::span<uint8_t> ram,
                                                   std::function<void()> notify);
    ~Machine();

    // Runs the vCPU and the devices.  The machine starts paused.
    void resume();
    // Returns once the vCPU has left guest code; the devices stop too (a
    // virtio-net device neither transmits nor receives: frames wait in
    // the TAP, kicks are served on resume), as QEMU's devices in a
    // stopped VM.  Serial input is still queued.
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

    // Device state for migration and snapshots (STYLE.md 6;
    // machine_state.cpp): vCPU 0, the UART, every virtio-net device.  Both
    // need the machine paused and refuse otherwise.  load_state() checks
    // the whole state first (every device's fields, the same set of
    // virtio-net ids as this machine's, ready queues inside this RAM),
    // then loads the vCPU (undone if KVM or Unicorn refuses it), then
    // the devices, re-driving their interrupt lines; an Error leaves the
    // machine unchanged.  Guest RAM must hold the saved contents before
    // the machine resumes.  A machine without a guest gets its vCPU from
    // the state.  Main thread.
    Result<api::MachineState> save_state();
    Result<void> load_state(const api::MachineState& state);
    // save_state() of a machine paused just for the read
    // (x-query-machine-state).
    Result<api::MachineState> query_state();

    // Throttles the vCPU to run 100 - percent of the time (auto-converge;
    // 0: off).  Main thread.
    void set_cpu_throttle(int percent) {
        if (m_thread) m_thread->set_throttle(percent);
    }

    // Why this machine cannot be migrated now (empty: it can), for every
    // migration mode: state molt does not save yet.
    std::vector<std::string> migration_blockers() const;

    // Guest RAM for migration: its size, and the host mapping, i.e. the
    // memory backend's bytes by host offset, both RAM regions (read by
    // the sending thread while the guest runs; written by the receiving
    // thread before the guest ever runs).
    uint64_t ram_bytes() const { return m_ram.size_bytes(); }
    std::span<const uint8_t> ram_view() const { return m_ram.host_mapping(); }
    std::span<uint8_t> ram_for_incoming() { return m_ram.host_mapping(); }

    // Dirty page tracking for migration: guest writes (KVM's dirty log of
    // each RAM slot, or tcg's write hook) and the VMM's own writes to
    // guest RAM.  sync returns the pages written since start or the
    // previous sync, one bit per 4 KiB page by host offset (as ram_view()),
    // and clears them.  start/stop: main thread; sync:
    // any thread (the migration thread), ordered with reset by a lock.
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
    // Whether the guest asked for a reset since the last call (main
    // thread); the caller resets the machine or shuts it down.
    bool take_reset_request();
    VcpuThread::State vcpu_state() const;

    // Bytes typed on the serial port's host side (main loop).
    void serial_input(std::span<const uint8_t> bytes) { m_serial.receive(bytes); }
    // Where the serial port's output goes from now on (a socket
    // backend's pipe); empty: dropped.  Main loop.
    void set_serial_output(UniqueFd out) { m_serial.set_output(std::move(out)); }

    // The virtio-net devices, for the main loop: their TAP fds, "the TAP
    // is readable", and whether to watch it at all just now.
    // None of them does anything while the machine is paused.
    size_t net_count() const { return m_nets.size(); }
    int net_fd(size_t i) const { return m_nets[i].net->tap().fd(); }
    const std::string& net_id(size_t i) const { return m_nets[i].id; }
    const std::string& net_ifname(size_t i) const { return m_nets[i].net->tap().ifname(); }
    // Whether device i waits for its TAP (Tap::pending), and giving it.
    bool net_tap_pending(size_t i) const { return m_nets[i].net->tap().is_pending(); }
    void net_adopt_tap(size_t i, virtio::Tap tap) { m_nets[i].net->adopt_tap(std::move(tap)); }
    void net_backend_ready(size_t i) {
        if (m_running) m_nets[i].transport->backend_ready();
    }
    bool net_wants_input(size_t i) const { return m_running && m_nets[i].net->wants_tap_readable(); }
    // The guest notified one of the device's queues; the main loop then
    // runs net_backend_ready(i).
    bool net_kicked(size_t i) const { return m_running && m_nets[i].net->kicked(); }
    // Sends a self-announcement frame from each virtio-net device, or from
    // those whose ids `only` names (empty: all; as in QEMU, a name that
    // matches no device is passed over).  Main thread.
    Result<void> announce_self(const std::vector<std::string>& only);

private:
    Machine(MachineSetup setup, std::span<uint8_t> ram);
    Result<void> wire_devices();
    Result<void> load_guest();
    Result<void> load_linux();
    Result<void> create_vcpu();
    Result<void> create_kvm_vcpu();
    void destroy_kvm_vcpu();
    // KVM memory slots: slot i maps RAM region i (low, high).
    Result<void> set_kvm_slots(uint32_t flags);
    // Adds every slot's KVM dirty log to m_dirty (by host offset).
    Result<void> merge_kvm_dirty_log();
    void destroy_vcpu();   // the vCPU thread must be gone
    Result<void> check_state(const api::MachineState& state) const;
    Result<void> load_cpu(const api::X86CpuState& cpu);
    // kvm: the in-kernel devices, clock and vCPU state beyond registers.
    Result<api::KvmState> save_kvm_state();
    Result<void> load_kvm_state(const api::KvmState& state);
    struct NetDevice;
    const NetDevice* find_net(const std::string& id) const;
    IrqLine* irq_line(uint32_t gsi);
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
        std::string id;
        virtio::Net* net;                                // owned by the transport
        std::unique_ptr<virtio::MmioTransport> transport;
    };
    std::vector<NetDevice> m_nets;
    std::function<void()> m_notify;
    bool m_linux = false;                // -kernel is a bzImage
    std::unique_ptr<kvm::Kvm> m_kvm;     // kvm only; outlive the vCPU
    std::vector<uint32_t> m_kvm_msrs;    // the MSRs kvm state saves (asked once)
    std::unique_ptr<kvm::VmFd> m_vm;
    std::atomic<const kvm::VmFd*> m_irq_vm{nullptr};   // what the lines drive
    std::vector<std::unique_ptr<kvm::KvmIrqLine>> m_irq_lines;
    std::unique_ptr<Vcpu> m_vcpu;
    std::unique_ptr<DirtyBitmap> m_dirty;   // while tracking
    std::mutex m_dirty_lock;                // m_dirty, m_vm for the dirty log
    std::unique_ptr<VcpuThread> m_thread;
    bool m_failure_reported = false;
    bool m_reset_reported = false;
    bool m_running = false;              // resumed and not paused since
};

}  // namespace molt::hw
