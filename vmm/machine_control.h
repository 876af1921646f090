// The run state's view of the machine (vmm/): VcpuControl over
// hw::Machine, and the reports the vCPU thread leaves for the main loop.
#pragma once

#include <cstdio>

#include "hw/machine.h"
#include "vmm/run_state.h"

namespace molt::vmm {

class MachineControl : public VcpuControl {
public:
    explicit MachineControl(hw::Machine& machine) : m_machine(machine) {}
    void pause() override { m_machine.pause(); }
    void resume() override { m_machine.resume(); }
    Result<void> reset() override { return m_machine.reset(); }

private:
    hw::Machine& m_machine;
};

// Called by the main loop after every wake-up: a vCPU fault stops the VM
// in internal-error with one line on stderr.
inline void check_machine(hw::Machine& machine, RunStateMachine& run_state) {
    if (std::optional<Error> f = machine.take_failure()) {
        std::fprintf(stderr, "molt: vCPU 0: %s\n", f->message().c_str());
        run_state.internal_error();
    }
}

}  // namespace molt::vmm
