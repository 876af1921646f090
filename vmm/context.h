// qmp::Context as molt defines it: what a QMP command handler gets.
//
// runtime/command_table.h leaves Context to the application; here it is
// the requesting client's protocol state and the VMM.  The dispatcher's
// Invoke callback (vmm/main.cpp) fills `session` for each request.
#pragma once

#include "runtime/qmp/dispatch.h"
#include "vmm/vmm.h"

namespace molt::qmp {

class Context {
public:
    explicit Context(vmm::Vmm& v) : vmm(v) {}
    SessionState* session = nullptr;
    vmm::Vmm& vmm;
};

}  // namespace molt::qmp
