// EventSink: where generated event emitters deliver QMP events.
//
// The generated emit_<event>() functions serialise the event's data with
// the output visitor (applying the sink's -compat policy) and hand the name
// and data to the sink; the QMP monitor (runtime/qmp) adds the timestamp
// and sends {"event", "data", "timestamp"} to its clients.
#pragma once

#include <string_view>

#include "runtime/visit.h"

namespace molt {

class EventSink {
public:
    virtual ~EventSink() = default;
    virtual const CompatPolicy& policy() const = 0;
    // data_json is the serialised "data" object, or empty for an event
    // without data.
    virtual void emit(std::string_view event, std::string_view data_json) = 0;
    // Writes out what is queued for clients, waiting up to timeout_ms
    // (before the process goes away: quit, cpr-exec).
    virtual void flush_all(int /*timeout_ms*/) {}
};

}  // namespace molt
