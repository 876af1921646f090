// MmioTransport; see mmio.h.  Register offsets: virtio 1.2 table 4.1.
#include "hw/virtio/mmio.h"

#include <cstdint>
#include <cstring>

namespace molt::hw::virtio {

namespace {

enum Reg : uint64_t {
    kMagicValue = 0x000, kVersion = 0x004, kDeviceId = 0x008, kVendor = 0x00c,
    kDeviceFeatures = 0x010, kDeviceFeaturesSel = 0x014, kDriverFeatures = 0x020,
    kDriverFeaturesSel = 0x024, kQueueSel = 0x030, kQueueNumMax = 0x034, kQueueNum = 0x038,
    kQueueReady = 0x044, kQueueNotify = 0x050, kInterruptStatus = 0x060, kInterruptAck = 0x064,
    kStatus = 0x070, kQueueDescLow = 0x080, kQueueDescHigh = 0x084, kQueueDriverLow = 0x090,
    kQueueDriverHigh = 0x094, kQueueDeviceLow = 0x0a0, kQueueDeviceHigh = 0x0a4,
    kConfigGeneration = 0x0fc, kConfig = 0x100,
};
constexpr uint32_t kInterruptUsedBuffer = 1, kInterruptConfig = 2;

uint64_t set_low(uint64_t v, uint32_t low) { return (v & ~uint64_t{0xffffffff}) | low; }
uint64_t set_high(uint64_t v, uint32_t high) { return (v & 0xffffffff) | uint64_t{high} << 32; }

}  // namespace

MmioTransport::MmioTransport(std::unique_ptr<Device> device, const GuestMemory& ram)
    : m_device(std::move(device)), m_ram(ram) {
    for (size_t i = 0; i < m_device->queue_count(); ++i) m_queues.emplace_back(m_device->queue_max_size());
}

void MmioTransport::read(uint64_t offset, std::span<uint8_t> data) {
    std::lock_guard guard(m_lock);
    if (offset >= kConfig) {
        m_device->read_config(offset - kConfig, data);
        return;
    }
    if (data.size() != 4 || offset % 4) {
        std::memset(data.data(), 0, data.size());   // 4.2.2.2: registers are 32-bit
        return;
    }
    uint32_t v = read_register(offset);
    std::memcpy(data.data(), &v, 4);
}

void MmioTransport::write(uint64_t offset, std::span<const uint8_t> data) {
    std::lock_guard guard(m_lock);
    if (offset >= kConfig) {
        m_device->write_config(offset - kConfig, data);
        return;
    }
    if (data.size() != 4 || offset % 4) return;
    uint32_t v;
    std::memcpy(&v, data.data(), 4);
    write_register(offset, v);
    update_interrupt();
}

void MmioTransport::update_interrupt() {
    for (Queue& q : m_queues) {
        if (q.ready() && q.take_signal(m_ram)) m_interrupt_status |= kInterruptUsedBuffer;
    }
    if (m_irq) m_irq->set_level(m_interrupt_status != 0);
}

Queue* MmioTransport::selected() {
    return m_queue_sel < m_queues.size() ? &m_queues[m_queue_sel] : nullptr;
}

uint32_t MmioTransport::read_register(uint64_t offset) {
    Queue* q = selected();
    switch (offset) {
    case kMagicValue: return kMagic;
    case kVersion: return 2;
    case kDeviceId: return m_device->device_id();
    case kVendor: return kVendorId;
    case kDeviceFeatures:
        return m_device_features_sel < 2
                   ? static_cast<uint32_t>(m_device->device_features() >> (32 * m_device_features_sel))
                   : 0;
    case kQueueNumMax: return q ? q->max_size() : 0;
    case kQueueReady: return q && q->ready() ? 1 : 0;
    case kInterruptStatus: return m_interrupt_status;
    case kStatus: return m_status;
    case kConfigGeneration: return m_config_generation;
    default: return 0;
    }
}

void MmioTransport::write_register(uint64_t offset, uint32_t value) {
    Queue* q = selected();
    // Queue setup is only allowed before DRIVER_OK, on a queue not ready (4.2.3.2).
    bool queue_setup = q && !q->ready() && !(m_status & kDriverOk);
    switch (offset) {
    case kDeviceFeaturesSel: m_device_features_sel = value; break;
    case kDriverFeaturesSel: m_driver_features_sel = value; break;
    case kDriverFeatures:
        if (m_driver_features_sel < 2 && !(m_status & kFeaturesOk)) {
            m_driver_features = m_driver_features_sel == 0 ? set_low(m_driver_features, value)
                                                           : set_high(m_driver_features, value);
        }
        break;
    case kQueueSel: m_queue_sel = value; break;
    case kQueueNum:
        // A 32-bit register for a 16-bit size (4.2.2): a value above
        // 0xffff is not truncated into a valid size but kept as 0, which
        // validate() refuses when the queue is made ready.
        if (queue_setup) q->set_size(value > UINT16_MAX ? 0 : static_cast<uint16_t>(value));
        break;
    case kQueueDescLow: if (queue_setup) q->set_desc(set_low(q->desc(), value)); break;
    case kQueueDescHigh: if (queue_setup) q->set_desc(set_high(q->desc(), value)); break;
    case kQueueDriverLow: if (queue_setup) q->set_avail(set_low(q->avail(), value)); break;
    case kQueueDriverHigh: if (queue_setup) q->set_avail(set_high(q->avail(), value)); break;
    case kQueueDeviceLow: if (queue_setup) q->set_used(set_low(q->used(), value)); break;
    case kQueueDeviceHigh: if (queue_setup) q->set_used(set_high(q->used(), value)); break;
    case kQueueReady:
        if (q && !(m_status & kDriverOk)) q->set_ready(value == 1);
        break;
    case kQueueNotify:
        if ((m_status & kDriverOk) && !(m_status & kNeedsReset) && value < m_queues.size()) {
            Result<void> r = m_device->notify(value);
            if (!r) fail(r.error());
        }
        break;
    case kInterruptAck: m_interrupt_status &= ~value; break;
    case kStatus: write_status(value); break;
    default: break;
    }
}

void MmioTransport::write_status(uint32_t value) {
    value &= 0xff;   // device status is 8 bits (2.1), as QEMU keeps it
    if (value == 0) {
        reset();
        return;
    }
    uint32_t added = value & ~m_status;
    if (added & kFeaturesOk) {
        uint64_t offered = m_device->device_features();
        if ((m_driver_features & ~offered) || !(m_driver_features & kFeatureVersion1)) {
            value &= ~kFeaturesOk;   // the driver reads back and sees it refused (3.1.1)
        }
    }
    if ((added & kDriverOk) && !(value & kFeaturesOk)) value &= ~kDriverOk;
    m_status = value | (m_status & kNeedsReset);
    if (added & kDriverOk && (m_status & kDriverOk)) {
        for (size_t i = 0; i < m_queues.size(); ++i) {
            if (!m_queues[i].ready()) continue;
            Result<void> r = m_queues[i].validate(m_ram);
            if (!r) {
                fail(Error(r.error()).with_context("queue " + std::to_string(i)));
                return;
            }
        }
        Result<void> r = m_device->activate(m_driver_features, m_queues, m_ram);
        if (!r) fail(r.error());
    }
}

void MmioTransport::fail(const Error& e) {
    m_status |= kNeedsReset;
    m_interrupt_status |= kInterruptConfig;
    ++m_config_generation;
    m_failure = e.message();
}

void MmioTransport::reset() {
    m_device->reset();
    for (auto& q : m_queues) q.reset();
    m_status = 0;
    m_driver_features = 0;
    m_device_features_sel = m_driver_features_sel = m_queue_sel = 0;
    m_interrupt_status = 0;
    m_failure.clear();
}

void MmioTransport::device_reset() {
    std::lock_guard guard(m_lock);
    reset();
    update_interrupt();
}

void MmioTransport::backend_ready() {
    std::lock_guard guard(m_lock);
    if (!(m_status & kDriverOk) || (m_status & kNeedsReset)) return;
    Result<void> r = m_device->backend_ready();
    if (!r) fail(r.error());
    update_interrupt();
}

uint32_t MmioTransport::status() const {
    std::lock_guard guard(m_lock);
    return m_status;
}

uint32_t MmioTransport::interrupt_status() const {
    std::lock_guard guard(m_lock);
    return m_interrupt_status;
}

std::string MmioTransport::failure() const {
    std::lock_guard guard(m_lock);
    return m_failure;
}

}  // namespace molt::hw::virtio
