// SerialSocket (vmm/): -serial unix:PATH / tcp:HOST:PORT, COM1's host side
// on a stream socket, as QEMU's socket chardev.
//
//   vCPU thread               main thread (EventLoop)                 client
//   UART THR --write--> [pipe, 64 KiB] --read--> relay --send------->  |
//   (non-blocking; a byte                    (what the client does     |
//    that does not fit                        not take waits; the      |
//    is dropped)                              pipe stops being read)   |
//   machine.serial_input() <-------------------------------- recv <-- typed
//
// server=on: listens and serves one client at a time.  While a client is
// connected the listener is not watched, so later clients wait in the
// backlog until it hangs up; then the next one is accepted (QEMU).  With
// wait=on, waiting() holds start-up until the first client connects.
// server=off: connects once at start-up; after the peer hangs up, output
// is dropped (QEMU without reconnect=).  With no client, output is read
// from the pipe and dropped, as QEMU drops it.
//
// The UART only ever writes to the pipe's non-blocking write end, so no
// client can block the vCPU, and the device knows nothing of sockets.  The
// pipe gives a slow client 64 KiB of slack whatever the writes' sizes (a
// UNIX socket charges each write a whole buffer: some 280 one-byte writes
// fill it), and what gathers in it goes out in one send.  Main thread
// only, except that the UART writes the pipe.
#pragma once

#include <memory>
#include <string>

#include "cli/command_line.h"
#include "hw/machine.h"
#include "runtime/event_loop.h"

namespace molt::vmm {

class SerialSocket {
public:
    // Listens (spec.server) or connects; the UNIX socket file (0600, a
    // stale socket replaced) is removed with the object.  Errors carry
    // QEMU's texts (Failed to bind socket to ..., Failed to connect to ...).
    static Result<std::unique_ptr<SerialSocket>> open(EventLoop& loop, const cli::CharSpec& spec);
    ~SerialSocket();
    SerialSocket(const SerialSocket&) = delete;
    SerialSocket& operator=(const SerialSocket&) = delete;

    // wait=on and no client has connected yet.
    bool waiting() const { return m_wait && !m_ever_connected; }
    // For -d backends: "listening on unix:PATH", "listening on tcp port N"...
    std::string describe() const;

    // The UART's output goes to the pipe, the client's bytes to the UART,
    // from now on (before, a client's input waits in its socket).  Once;
    // machine must outlive this object.
    void attach(hw::Machine& machine);

private:
    SerialSocket(EventLoop& loop, const cli::CharSpec& spec) : m_loop(loop), m_spec(spec) {}
    Result<void> start();
    void on_accept();
    Result<void> connected(UniqueFd client);
    void disconnect();
    void on_client(uint32_t events);
    void on_output();
    void rearm();

    EventLoop& m_loop;
    cli::CharSpec m_spec;
    UniqueFd m_listener;          // server=on
    std::string m_unix_path;      // removed on destruction (server=on, unix)
    int m_tcp_port = -1;
    UniqueFd m_client;
    UniqueFd m_pipe_read, m_pipe_write;   // write end: the UART's, after attach
    hw::Machine* m_machine = nullptr;
    std::string m_pending;        // read from the pipe, not yet sent
    bool m_wait = false;
    bool m_ever_connected = false;
    uint32_t m_listener_events = 0, m_client_events = 0, m_pipe_events = 0;   // as armed
};

}  // namespace molt::vmm
