// MmioTransport's device state (schema VirtioMmioState), saved and loaded
// for migration and snapshots (STYLE.md 6); see mmio.h.
#include <cstdio>
#include <string>

#include "hw/virtio/mmio.h"

namespace molt::hw::virtio {

namespace {

std::string hex(uint64_t v) {
    char buf[24];
    std::snprintf(buf, sizeof(buf), "0x%llx", static_cast<unsigned long long>(v));
    return buf;
}

}  // namespace

api::VirtioMmioState MmioTransport::save() const {
    std::lock_guard guard(m_lock);
    api::VirtioMmioState s;
    s.status = m_status;
    s.device_features_sel = m_device_features_sel;
    s.driver_features_sel = m_driver_features_sel;
    s.driver_features = m_driver_features;
    s.queue_sel = m_queue_sel;
    s.interrupt_status = m_interrupt_status;
    s.config_generation = m_config_generation;
    s.failure = m_failure;
    for (const Queue& q : m_queues) s.queues.push_back(q.save());
    return s;
}

Result<void> MmioTransport::check_state(const api::VirtioMmioState& s) const {
    std::lock_guard guard(m_lock);
    return check_state_locked(s);
}

Result<void> MmioTransport::check_state_locked(const api::VirtioMmioState& s) const {
    if (s.status > 0xff) return Error("status " + hex(s.status) + " has bits above 7");
    uint64_t offered = m_device->device_features();
    if ((s.status & kFeaturesOk) &&
        ((s.driver_features & ~offered) || !(s.driver_features & kFeatureVersion1))) {
        return Error("status has FEATURES_OK but driver-features " + hex(s.driver_features) +
                     " are not VERSION_1 and a subset of the device's " + hex(offered));
    }
    if (s.interrupt_status & ~uint32_t{3}) {
        return Error("interrupt-status " + hex(s.interrupt_status) + " has bits other than 0 and 1");
    }
    if (s.queues.size() != m_queues.size()) {
        return Error(std::to_string(s.queues.size()) + " queues in the state, the device has " +
                     std::to_string(m_queues.size()));
    }
    bool running = (s.status & kDriverOk) && !(s.status & kNeedsReset);
    for (size_t i = 0; i < m_queues.size(); ++i) {
        Result<void> r = m_queues[i].check_state(s.queues[i], m_ram, running);
        if (!r) return Error(r.error()).with_context("queue " + std::to_string(i));
    }
    return ok();
}

Result<void> MmioTransport::load(const api::VirtioMmioState& s) {
    std::lock_guard guard(m_lock);
    MOLT_TRY(check_state_locked(s));
    m_status = s.status;
    m_device_features_sel = s.device_features_sel;
    m_driver_features_sel = s.driver_features_sel;
    m_driver_features = s.driver_features;
    m_queue_sel = s.queue_sel;
    m_interrupt_status = s.interrupt_status;
    m_config_generation = s.config_generation;
    m_failure = s.failure;
    for (size_t i = 0; i < m_queues.size(); ++i) m_queues[i].load(s.queues[i]);
    m_device->reset();
    if (m_status & kDriverOk) m_device->restore(m_driver_features, m_queues, m_ram);
    // Only the line: update_interrupt() would also take used-buffer
    // signals, which belong to the device's next run.
    if (m_irq) m_irq->set_level(m_interrupt_status != 0);
    return ok();
}

}  // namespace molt::hw::virtio
