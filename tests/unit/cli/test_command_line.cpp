// Unit tests of the command line parser (cli/): each option's value goes
// through its schema type; the parser creates nothing.
#include <doctest/doctest.h>

#include <vector>

#include "cli/command_line.h"
#include "qapi-types-sockets.h"

using namespace molt;
using cli::CommandLine;

namespace {

Result<CommandLine> parse(std::vector<const char*> args) {
    args.insert(args.begin(), "molt");
    return cli::parse_command_line(static_cast<int>(args.size()), args.data());
}

}  // namespace

TEST_CASE("command line: defaults") {
    CommandLine cl = *parse({});
    CHECK(cl.action == CommandLine::Action::Run);
    CHECK(*cl.memory.size == uint64_t{128} << 20);
    CHECK_FALSE(cl.incoming_pending());
    CHECK_FALSE(cl.incoming_config);
}

TEST_CASE("command line: -m without a unit is MiB, with one is bytes") {
    CHECK(*parse({"-m", "512"})->memory.size == uint64_t{512} << 20);
    CHECK(*parse({"-m", "size=2G"})->memory.size == uint64_t{2} << 30);
    CHECK(*parse({"-m", "1536k"})->memory.size == uint64_t{1536} << 10);
    CHECK(*parse({"--m", "0x10"})->memory.size == uint64_t{16} << 20);
}

TEST_CASE("command line: -incoming config:, channels and defer") {
    CommandLine cl = *parse({"-incoming", "config:mode=cpr-exec,multifd-channels=4", "-incoming",
                             "unix:/tmp/m.sock", "-incoming",
                             R"({"channel-type": "cpr", "addr": {"transport": "socket", "type": "unix", "path": "/tmp/c.sock"}})"});
    REQUIRE(cl.incoming_config);
    CHECK(*cl.incoming_config->mode == api::MigMode::CprExec);
    CHECK(*cl.incoming_config->multifd_channels == 4);
    CHECK_FALSE(cl.incoming_config->downtime_limit);   // not given: not set
    REQUIRE(cl.incoming.size() == 2);
    CHECK(cl.incoming[0].channel.channel_type == api::MigrationChannelType::Main);
    CHECK(cl.incoming[0].channel.addr->u.socket->u.unix_->path == "/tmp/m.sock");
    CHECK(cl.incoming[1].channel.channel_type == api::MigrationChannelType::Cpr);
    CHECK(cl.incoming_pending());
    CHECK(parse({"-incoming", "defer"})->incoming_defer);
    auto r = parse({"-incoming", "config:mode=normal", "-incoming", "config:events=on"});
    REQUIRE_FALSE(r);
    CHECK(r.error().message() == "-incoming config:events=on: Only one -incoming config:* is allowed.");
}

TEST_CASE("command line: migration URIs") {
    auto tcp = *cli::parse_migration_uri("tcp:[::1]:4444");
    CHECK(tcp.u.socket->u.inet->host == "::1");
    CHECK(tcp.u.socket->u.inet->port == "4444");
    auto file = *cli::parse_migration_uri("file:/tmp/vm.state,offset=0x1000");
    CHECK(file.transport == api::MigrationAddressType::File);
    CHECK(file.u.file->filename == "/tmp/vm.state");
    CHECK(*file.u.file->offset == 0x1000);
    auto exec = *cli::parse_migration_uri("exec:cat > /tmp/x");
    CHECK(exec.u.exec->args == std::vector<std::string>{"/bin/sh", "-c", "cat > /tmp/x"});
    auto fd = *cli::parse_migration_uri("fd:mig");
    CHECK(fd.u.socket->u.fd->str == "mig");
    CHECK_FALSE(cli::parse_migration_uri("rdma:x"));
    CHECK_FALSE(cli::parse_migration_uri("tcp:nohostport"));
}

TEST_CASE("command line: character devices") {
    auto u = *cli::parse_char_spec("unix:/tmp/q.sock,server=on,wait=off");
    CHECK(u.kind == cli::CharSpec::Kind::Unix);
    CHECK(u.path == "/tmp/q.sock");
    CHECK(u.server);
    CHECK_FALSE(u.wait);
    auto t = *cli::parse_char_spec("tcp::4444,server=on");
    CHECK(t.kind == cli::CharSpec::Kind::Tcp);
    CHECK(t.host.empty());
    CHECK(t.port == "4444");
    CHECK(t.wait);
    CHECK_FALSE(t.nodelay);
    auto c = *cli::parse_char_spec("tcp:localhost:4444,nodelay=on");
    CHECK_FALSE(c.server);
    CHECK(c.nodelay);
    auto bad = cli::parse_char_spec("unix:/x,server=maybe");
    REQUIRE_FALSE(bad);
    CHECK(bad.error().message() == "Parameter 'server' expects 'on' or 'off'");
    for (const char* client_wait : {"unix:/x,wait=off", "tcp:h:1,server=off,wait=on"}) {
        auto r = cli::parse_char_spec(client_wait);
        REQUIRE_FALSE(r);
        CHECK(r.error().message() ==
              "'wait' option is incompatible with socket in client connect mode");
    }
}

TEST_CASE("command line: -global, objects, help") {
    CommandLine cl = *parse({"-global", "migration.downtime-limit=100", "-object",
                             "memory-backend-memfd,id=m0,size=1G,share=on"});
    REQUIRE(cl.migration_globals.size() == 1);
    CHECK(cl.migration_globals[0].key == "downtime-limit");
    CHECK(cl.migration_globals[0].value == "100");
    REQUIRE(cl.objects.size() == 1);
    CHECK(cl.objects[0].qom_type == api::ObjectType::MemoryBackendMemfd);
    CHECK(cl.objects[0].u.memory_backend_memfd->size == uint64_t{1} << 30);
    CommandLine h = *parse({"-object", "help"});
    CHECK(h.action == CommandLine::Action::ListHelp);
    CHECK(h.help_text.find("mem-path") != std::string::npos);
    CHECK(parse({"-version"})->action == CommandLine::Action::Version);
}
