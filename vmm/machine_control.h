// The run state's view of the machine (vmm/): VcpuControl over
// hw::Machine, and the reports the vCPU thread leaves for the main loop.
#pragma once

#include <cstdio>

#include <fcntl.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>

#include "hw/machine.h"
#include "runtime/event_loop.h"
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
// in internal-error with one line on stderr; a guest's reset request (a
// triple fault) resets the machine (RESET, guest-reset), or with
// -no-reboot shuts it down (SHUTDOWN, guest-reset) and returns true: molt
// then exits, as QEMU.
inline bool check_machine(hw::Machine& machine, RunStateMachine& run_state, bool no_reboot) {
    if (std::optional<Error> f = machine.take_failure()) {
        std::fprintf(stderr, "molt: vCPU 0: %s\n", f->message().c_str());
        run_state.internal_error();
    }
    if (!machine.take_reset_request()) return false;
    if (no_reboot) {
        run_state.shutdown(api::ShutdownCause::GuestReset);
        return true;
    }
    Result<void> r = run_state.reset(api::ShutdownCause::GuestReset);
    if (!r) {
        std::fprintf(stderr, "molt: guest reset: %s\n", r.error().message().c_str());
        run_state.internal_error();
    }
    return false;
}

// -serial stdio's input: what arrives on stdin goes to the UART's receive
// queue.  Stdin that cannot be polled (a regular file) is not read.
class SerialInput {
public:
    Result<void> watch(EventLoop& loop, hw::Machine& machine) {
        m_fd = UniqueFd(fcntl(0, F_DUPFD_CLOEXEC, 3));
        if (!m_fd) return Error::from_errno(errno, "-serial stdio: stdin");
        fcntl(m_fd.get(), F_SETFL, fcntl(m_fd.get(), F_GETFL) | O_NONBLOCK);
        int fd = m_fd.get();
        Result<void> r = loop.add(fd, EPOLLIN, [&loop, &machine, fd](uint32_t) {
            uint8_t buf[4096];
            ssize_t n = read(fd, buf, sizeof(buf));
            if (n > 0) {
                machine.serial_input(std::span<const uint8_t>(buf, static_cast<size_t>(n)));
            } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
                loop.remove(fd);   // end of input: the guest just gets no more
            }
        });
        if (!r) m_fd.reset();   // not pollable: no serial input
        return ok();
    }

private:
    UniqueFd m_fd;
};

// The virtio-net devices in the main loop: a readable TAP, or a queue
// notification from the guest (which wakes the loop), makes the device
// transmit and receive - both run on the main thread.  A device whose received
// frame waits for a guest buffer stops being told that its TAP is
// readable (level-triggered epoll would spin) until the guest posts
// buffers; the device then wakes the loop, and update() re-arms it.
class NetWatch {
public:
    Result<void> watch(EventLoop& loop, hw::Machine& machine) {
        m_fds.assign(machine.net_count(), -1);
        m_armed.assign(machine.net_count(), false);
        for (size_t i = 0; i < machine.net_count(); ++i) MOLT_TRY(follow_fd(loop, machine, i));
        return ok();
    }
    // After every wake-up: kicked devices run, then TAP interest follows
    // what each device wants (and a TAP that arrived since is watched).
    void update(EventLoop& loop, hw::Machine& machine) {
        for (size_t i = 0; i < m_armed.size(); ++i) {
            if (machine.net_fd(i) != m_fds[i]) (void)follow_fd(loop, machine, i);
            if (machine.net_kicked(i)) machine.net_backend_ready(i);
        }
        for (size_t i = 0; i < m_armed.size(); ++i) {
            if (m_fds[i] < 0) continue;
            bool want = machine.net_wants_input(i);
            if (want == m_armed[i]) continue;
            (void)loop.modify(machine.net_fd(i), want ? uint32_t{EPOLLIN} : 0u);
            m_armed[i] = want;
        }
    }

private:
    // Watches device i's current TAP fd (none while its TAP is pending).
    Result<void> follow_fd(EventLoop& loop, hw::Machine& machine, size_t i) {
        if (m_fds[i] >= 0) loop.remove(m_fds[i]);
        m_fds[i] = machine.net_fd(i);
        m_armed[i] = m_fds[i] >= 0;
        if (m_fds[i] < 0) return ok();
        return loop.add(m_fds[i], EPOLLIN, [&machine, i](uint32_t) { machine.net_backend_ready(i); });
    }

    std::vector<int> m_fds;
    std::vector<bool> m_armed;
};

}  // namespace molt::vmm
