// SPDX-License-Identifier: Apache-2.0
#include "control/daemon/daemon_options.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace sluice::control {
namespace {

namespace fs = std::filesystem;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using Args = std::vector<std::string>;

constexpr const char* kSeed = "00112233445566778899aabbccddeeff";

class DaemonOptionsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("sluice-options-test-" + std::to_string(getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string write(const std::string& name, const std::string& text) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path) << text;
    return path;
  }

  // Parses `args` as if they followed "sluiced" on the command line.
  static ParsedOptions parse(const Args& args) {
    std::vector<const char*> argv = {"sluiced"};
    for (const std::string& a : args) argv.push_back(a.c_str());
    argv.push_back(nullptr);
    return parse_daemon_options(static_cast<int>(argv.size() - 1), argv.data());
  }

  // The two required options, then `more`.
  static ParsedOptions parse_with_required(const Args& more) {
    Args args = {"--profile", "p.ini", "--hash-seed", kSeed};
    args.insert(args.end(), more.begin(), more.end());
    return parse(args);
  }

  // Asserts a refusal: exit code 2, no options, the message names `option`.
  static void expect_error(const ParsedOptions& r, const std::string& option) {
    EXPECT_FALSE(r.options.has_value());
    EXPECT_EQ(r.exit_code, 2);
    EXPECT_THAT(r.output, StartsWith("sluiced: "));
    EXPECT_THAT(r.output, HasSubstr(option));
    EXPECT_THAT(r.output, HasSubstr("(see sluiced --help)"));
  }

  fs::path dir_;
};

// --help prints the usage and every option group, exits 0, runs nothing.
TEST_F(DaemonOptionsTest, HelpPrintsUsageAndExitsZero) {
  for (const char* flag : {"--help", "-h"}) {
    const ParsedOptions r = parse({flag});
    EXPECT_FALSE(r.options.has_value()) << flag;
    EXPECT_EQ(r.exit_code, 0) << flag;
    EXPECT_THAT(r.output, StartsWith("Usage: sluiced --profile FILE --hash-seed HEX [options]"));
    EXPECT_THAT(r.output, HasSubstr("sluiced --dataplane xdp --xdp-interface IF --xdp-detach"));
    for (const char* option : {"--config", "--dataplane", "--profile-set", "--flow-capacity",
                               "--services", "--hash-seed-file", "--next-hop-mac",
                               "--log-format", "--stats-file", "--stats-interval-ms",
                               "--xdp-interface", "--xdp-mode", "--xdp-pin-dir", "--xdp-detach"}) {
      EXPECT_THAT(r.output, HasSubstr(option)) << flag;
    }
  }
}

// --help wins over missing and even invalid options.
TEST_F(DaemonOptionsTest, HelpIgnoresOtherProblems) {
  const ParsedOptions r = parse({"--help", "--log-format", "xml"});
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_FALSE(r.options.has_value());
  EXPECT_THAT(r.output, StartsWith("Usage: "));
}

// --version prints exactly the version line and exits 0.
TEST_F(DaemonOptionsTest, VersionPrintsVersion) {
  const ParsedOptions r = parse({"--version"});
  EXPECT_FALSE(r.options.has_value());
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.output, "sluiced 0.1.0\n");
}

// The two required options alone give a runnable configuration with defaults.
TEST_F(DaemonOptionsTest, RequiredOnlyGivesDefaults) {
  const ParsedOptions r = parse_with_required({});
  ASSERT_TRUE(r.options.has_value()) << r.output;
  EXPECT_EQ(r.exit_code, 0);
  EXPECT_EQ(r.output, "");
  const DaemonOptions& o = *r.options;
  EXPECT_EQ(o.profile_path, "p.ini");
  EXPECT_TRUE(o.profile_overrides.empty());
  EXPECT_EQ(o.services_path, "");
  EXPECT_EQ(o.seed.k0, 0x0011223344556677ull);
  EXPECT_EQ(o.seed.k1, 0x8899aabbccddeeffull);
  EXPECT_FALSE(o.next_hop_set);
  EXPECT_EQ(o.flow_capacity, 1u << 20);
  EXPECT_EQ(o.circuit_capacity, 1u << 16);
  EXPECT_EQ(o.log_format, "text");
  EXPECT_EQ(o.log_level, "info");
  EXPECT_EQ(o.stats_path, "");
  EXPECT_EQ(o.stats_interval_ms, 1000u);
  EXPECT_EQ(o.dataplane, "dpdk");
  EXPECT_EQ(o.forwarding.max_frame_size, 1514u + 40u);
}

// The two ways past a refused start (control/state/state_integrity.h):
// off by default, each read, only with --state-dir, never both.
TEST_F(DaemonOptionsTest, StateRecoveryFlags) {
  ParsedOptions r = parse_with_required({"--state-dir", "/tmp/s"});
  ASSERT_TRUE(r.options.has_value()) << r.output;
  EXPECT_FALSE(r.options->accept_state_rollback);
  EXPECT_FALSE(r.options->reset_state);
  r = parse_with_required({"--state-dir", "/tmp/s", "--accept-state-rollback"});
  ASSERT_TRUE(r.options.has_value()) << r.output;
  EXPECT_TRUE(r.options->accept_state_rollback);
  r = parse_with_required({"--state-dir", "/tmp/s", "--reset-state"});
  ASSERT_TRUE(r.options.has_value()) << r.output;
  EXPECT_TRUE(r.options->reset_state);
  expect_error(parse_with_required({"--reset-state"}), "--reset-state needs --state-dir");
  expect_error(parse_with_required({"--accept-state-rollback"}),
               "--accept-state-rollback needs --state-dir");
  expect_error(parse_with_required({"--state-dir", "/tmp/s", "--reset-state",
                                    "--accept-state-rollback"}),
               "--accept-state-rollback and --reset-state exclude each other");
}

// The per-worker new-flow rate (README "Flow state under attack"):
// defaults, 0 for no limit, and the bounds named in the errors.
TEST_F(DaemonOptionsTest, NewFlowRateAndBurst) {
  const ParsedOptions d = parse_with_required({});
  ASSERT_TRUE(d.options.has_value()) << d.output;
  EXPECT_EQ(d.options->forwarding.new_flow_rate, 250000u);
  EXPECT_EQ(d.options->forwarding.new_flow_burst, 250000u);
  const ParsedOptions r = parse_with_required({"--new-flow-rate", "1000", "--new-flow-burst", "50"});
  ASSERT_TRUE(r.options.has_value()) << r.output;
  EXPECT_EQ(r.options->forwarding.new_flow_rate, 1000u);
  EXPECT_EQ(r.options->forwarding.new_flow_burst, 50u);
  const ParsedOptions off = parse_with_required({"--new-flow-rate", "0", "--new-flow-burst", "0"});
  ASSERT_TRUE(off.options.has_value()) << off.output;
  EXPECT_EQ(off.options->forwarding.new_flow_rate, 0u);
  expect_error(parse_with_required({"--new-flow-rate", "1000", "--new-flow-burst", "0"}),
               "--new-flow-burst: 0 is out of range 1..100000000");
  expect_error(parse_with_required({"--new-flow-rate", "100000001"}),
               "--new-flow-rate: 100000001 is out of range 0..100000000 (0: no limit)");
  expect_error(parse_with_required({"--new-flow-rate=-1"}), "--new-flow-rate");
}

// The per-worker rate of ICMP answers to too-big packets (README "MTU and
// MSS"): defaults 1000/s, burst 100; 0 for no limit; the bounds named.
TEST_F(DaemonOptionsTest, IcmpTooBigRateAndBurst) {
  const ParsedOptions d = parse_with_required({});
  ASSERT_TRUE(d.options.has_value()) << d.output;
  EXPECT_EQ(d.options->forwarding.icmp_too_big_rate, 1000u);
  EXPECT_EQ(d.options->forwarding.icmp_too_big_burst, 100u);
  const ParsedOptions r =
      parse_with_required({"--icmp-too-big-rate", "50", "--icmp-too-big-burst", "5"});
  ASSERT_TRUE(r.options.has_value()) << r.output;
  EXPECT_EQ(r.options->forwarding.icmp_too_big_rate, 50u);
  EXPECT_EQ(r.options->forwarding.icmp_too_big_burst, 5u);
  expect_error(parse_with_required({"--icmp-too-big-rate", "10", "--icmp-too-big-burst", "0"}),
               "--icmp-too-big-burst: 0 is out of range 1..100000000");
  expect_error(parse_with_required({"--icmp-too-big-rate", "100000001"}),
               "--icmp-too-big-rate: 100000001 is out of range 0..100000000 (0: no limit)");
}

// Every option, valid, lands in its field.
TEST_F(DaemonOptionsTest, EveryOptionIsRead) {
  const ParsedOptions r = parse(
      {"--dataplane", "dpdk", "--profile", "lab.ini", "--profile-set", "eal.file_prefix=lb1",
       "--profile-set", "port.iface=veth9", "--flow-capacity", "1024", "--circuit-capacity", "16",
       "--services", "services.json", "--hash-seed", "0123456789ABCDEFfedcba9876543210",
       "--outer-source-v4", "10.0.0.2", "--outer-source-v6", "2001:db8::2", "--next-hop-mac",
       "02:00:00:00:00:fe", "--max-frame-size", "9000", "--log-format", "json", "--log-level",
       "debug", "--stats-file", "/tmp/stats.json", "--stats-interval-ms", "10"});
  ASSERT_TRUE(r.options.has_value()) << r.output;
  const DaemonOptions& o = *r.options;
  EXPECT_EQ(o.profile_path, "lab.ini");
  EXPECT_THAT(o.profile_overrides, ElementsAre("eal.file_prefix=lb1", "port.iface=veth9"));
  EXPECT_EQ(o.flow_capacity, 1024u);
  EXPECT_EQ(o.circuit_capacity, 16u);
  EXPECT_EQ(o.services_path, "services.json");
  EXPECT_EQ(o.seed.k0, 0x0123456789abcdefull);
  EXPECT_EQ(o.seed.k1, 0xfedcba9876543210ull);
  EXPECT_EQ(o.forwarding.source_v4, *engine::IpAddress::parse("10.0.0.2"));
  EXPECT_EQ(o.forwarding.source_v6, *engine::IpAddress::parse("2001:db8::2"));
  EXPECT_TRUE(o.next_hop_set);
  EXPECT_EQ(o.forwarding.next_hop_mac, (engine::MacAddress{0x02, 0, 0, 0, 0, 0xfe}));
  EXPECT_EQ(o.forwarding.max_frame_size, 9000u);
  EXPECT_EQ(o.log_format, "json");
  EXPECT_EQ(o.log_level, "debug");
  EXPECT_EQ(o.stats_path, "/tmp/stats.json");
  EXPECT_EQ(o.stats_interval_ms, 10u);
}

// Every log level the daemon documents is accepted.
TEST_F(DaemonOptionsTest, EveryLogLevelIsAccepted) {
  for (const char* level : {"trace", "debug", "info", "warn", "error"}) {
    const ParsedOptions r = parse_with_required({"--log-level", level});
    ASSERT_TRUE(r.options.has_value()) << level << ": " << r.output;
    EXPECT_EQ(r.options->log_level, level);
  }
}

// Without --profile the daemon refuses to start.
TEST_F(DaemonOptionsTest, MissingProfileIsAnError) {
  expect_error(parse({"--hash-seed", kSeed}), "--profile is required");
}

// Without a hash seed the daemon refuses to start.
TEST_F(DaemonOptionsTest, MissingHashSeedIsAnError) {
  expect_error(parse({"--profile", "p.ini"}), "--hash-seed (or --hash-seed-file) is required");
  expect_error(parse({"--profile", "p.ini", "--hash-seed", ""}), "--hash-seed (or --hash-seed-file) is required");
}

// No arguments at all: the first missing option is named.
TEST_F(DaemonOptionsTest, NoArgumentsIsAnError) { expect_error(parse({}), "--profile is required"); }

// A seed that is not exactly 32 hex digits is refused, quoting it.
TEST_F(DaemonOptionsTest, MalformedHashSeedIsAnError) {
  for (const std::string bad : {
           "00112233445566778899aabbccddeef",    // 31 digits
           "00112233445566778899aabbccddeeff0",  // 33 digits
           "00112233445566778899aabbccddeefg",   // non-hex last digit
           "g0112233445566778899aabbccddeeff",   // non-hex first digit
           "0x112233445566778899aabbccddeeff",   // prefix
           "00112233 445566778899aabbccddeeff",  // space inside
           "-0112233445566778899aabbccddeeff",   // sign
           "secret"}) {
    SCOPED_TRACE(bad);
    expect_error(parse({"--profile", "p.ini", "--hash-seed", bad}),
                 "--hash-seed: expected 32 hex digits, got \"" + bad + "\"");
  }
}

// A malformed next-hop MAC is refused, quoting it.
TEST_F(DaemonOptionsTest, MalformedNextHopMacIsAnError) {
  for (const std::string bad : {"02:00:00:00:00", "02:00:00:00:00:01:03", "02-00-00-00-00-01",
                                "02:00:00:00:00:0g", "2:0:0:0:0:1", "02:00:00:00:00:001",
                                "0200.0000.0001", "02:00:00:00:00:01 ", "02:-1:00:00:00:01"}) {
    SCOPED_TRACE(bad);
    expect_error(parse_with_required({"--next-hop-mac", bad}),
                 "--next-hop-mac: \"" + bad + "\" is not a MAC address");
  }
}

// Outer sources must be addresses of their own family.
TEST_F(DaemonOptionsTest, OuterSourceOfWrongFamilyIsAnError) {
  for (const std::string bad : {"2001:db8::1", "10.0.0.256", "10.0.0", "garbage", "10.0.0.1/32"}) {
    SCOPED_TRACE(bad);
    expect_error(parse_with_required({"--outer-source-v4", bad}),
                 "--outer-source-v4: \"" + bad + "\" is not an IPv4 address");
  }
  for (const std::string bad : {"10.0.0.1", "2001:db8::g", "garbage", "2001:db8::/64"}) {
    SCOPED_TRACE(bad);
    expect_error(parse_with_required({"--outer-source-v6", bad}),
                 "--outer-source-v6: \"" + bad + "\" is not an IPv6 address");
  }
}

// Unknown log formats and levels are refused, naming the option.
TEST_F(DaemonOptionsTest, UnknownLogFormatOrLevelIsAnError) {
  expect_error(parse_with_required({"--log-format", "xml"}),
               "--log-format: \"xml\" is neither text nor json");
  expect_error(parse_with_required({"--log-format", "JSON"}), "--log-format: \"JSON\"");
  for (const char* bad : {"warning", "verbose", "INFO", "critical", ""}) {
    SCOPED_TRACE(bad);
    expect_error(parse_with_required({"--log-level", bad}),
                 std::string("--log-level: \"") + bad +
                     "\" is not one of trace, debug, info, warn, error");
  }
}

// A --profile-set without '=' or without a "section." before it is refused.
TEST_F(DaemonOptionsTest, MalformedProfileSetIsAnError) {
  for (const std::string bad : {"eal.file_prefix", "file_prefix=lb1", "x=eal.file_prefix", ""}) {
    SCOPED_TRACE(bad);
    expect_error(parse_with_required({"--profile-set", bad}),
                 "--profile-set: \"" + bad + "\" is not section.key=value");
  }
  // One bad override among good ones is still named.
  expect_error(parse_with_required({"--profile-set", "eal.file_prefix=a", "--profile-set", "nodot"}),
               "--profile-set: \"nodot\"");
}

// A value may itself contain '=' and '.': only the first '=' splits.
TEST_F(DaemonOptionsTest, ProfileSetValueMayContainEqualsAndDots) {
  const ParsedOptions r =
      parse_with_required({"--profile-set", "eal.vdev=net_af_xdp0,iface=veth.1"});
  ASSERT_TRUE(r.options.has_value()) << r.output;
  EXPECT_THAT(r.options->profile_overrides, ElementsAre("eal.vdev=net_af_xdp0,iface=veth.1"));
}

// Capacities outside their range and the stats interval below its minimum
// are refused; the bounds themselves are fine.
TEST_F(DaemonOptionsTest, CapacitiesOutOfRangeAreErrors) {
  expect_error(parse_with_required({"--flow-capacity", "1023"}),
               "--flow-capacity: 1023 is out of range 1024..268435456");
  expect_error(parse_with_required({"--flow-capacity", "0"}), "--flow-capacity: 0 is out of range");
  expect_error(parse_with_required({"--flow-capacity", "268435457"}),
               "--flow-capacity: 268435457 is out of range");
  // Boost wraps -1 into 4294967295 for an unsigned option: still refused.
  expect_error(parse_with_required({"--flow-capacity=-1"}), "--flow-capacity");
  expect_error(parse_with_required({"--circuit-capacity", "15"}),
               "--circuit-capacity: 15 is out of range 16..16777216");
  expect_error(parse_with_required({"--circuit-capacity", "16777217"}),
               "--circuit-capacity: 16777217 is out of range");
  expect_error(parse_with_required({"--stats-interval-ms", "9"}), "--stats-interval-ms: at least 10");
  const ParsedOptions low = parse_with_required(
      {"--flow-capacity", "1024", "--circuit-capacity", "16", "--stats-interval-ms", "10"});
  ASSERT_TRUE(low.options.has_value()) << low.output;
  const ParsedOptions high =
      parse_with_required({"--flow-capacity", "268435456", "--circuit-capacity", "16777216"});
  ASSERT_TRUE(high.options.has_value()) << high.output;
}

// Non-numeric numbers are refused by the parser, naming the option.
TEST_F(DaemonOptionsTest, NonNumericNumbersAreErrors) {
  expect_error(parse_with_required({"--flow-capacity", "lots"}), "flow-capacity");
  expect_error(parse_with_required({"--circuit-capacity", "16k"}), "circuit-capacity");
  expect_error(parse_with_required({"--max-frame-size", "1.5"}), "max-frame-size");
  expect_error(parse_with_required({"--stats-interval-ms", "99999999999"}), "stats-interval-ms");
}

// An option given without its value is refused, naming it.
TEST_F(DaemonOptionsTest, OptionWithoutValueIsAnError) {
  expect_error(parse({"--hash-seed", kSeed, "--profile"}), "profile");
}

// Unknown options are refused, naming them.
TEST_F(DaemonOptionsTest, UnknownOptionIsAnError) {
  expect_error(parse_with_required({"--frobnicate"}), "--frobnicate");
  expect_error(parse_with_required({"--frobnicate=1"}), "--frobnicate");
}

// A single-valued option given twice is refused.
TEST_F(DaemonOptionsTest, RepeatedSingleOptionIsAnError) {
  expect_error(parse_with_required({"--log-level", "info", "--log-level", "debug"}), "log-level");
}

// Only the DPDK dataplane exists: --dataplane xdp (or anything else) is refused.
TEST_F(DaemonOptionsTest, UnknownDataplaneIsAnError) {
  expect_error(parse_with_required({"--dataplane", "DPDK"}),
               "--dataplane: \"DPDK\" is neither dpdk nor xdp");
}

// --dataplane xdp takes the --xdp-* options instead of a hardware profile.
TEST_F(DaemonOptionsTest, XdpDataplaneOptionsAreRead) {
  const ParsedOptions r = parse({"--dataplane", "xdp", "--xdp-interface", "eth1", "--xdp-mode",
                                 "generic", "--xdp-pin-dir", "/run/pins", "--hash-seed", kSeed});
  ASSERT_TRUE(r.options.has_value()) << r.output;
  EXPECT_EQ(r.options->dataplane, "xdp");
  EXPECT_EQ(r.options->xdp_interface, "eth1");
  EXPECT_TRUE(r.options->xdp_generic);
  EXPECT_EQ(r.options->xdp_pin_root, "/run/pins");
  EXPECT_FALSE(r.options->xdp_detach);
  // Running needs the hash seed as on DPDK; only the removal does not.
  expect_error(parse({"--dataplane", "xdp", "--xdp-interface", "eth1"}), "--hash-seed");
  const ParsedOptions detach =
      parse({"--dataplane", "xdp", "--xdp-interface", "eth1", "--xdp-detach"});
  ASSERT_TRUE(detach.options.has_value()) << "--xdp-detach needs nothing more: " << detach.output;
  EXPECT_TRUE(detach.options->xdp_detach);
  EXPECT_EQ(detach.options->xdp_pin_root, "/sys/fs/bpf/sluice");
  EXPECT_FALSE(detach.options->xdp_generic);
  EXPECT_FALSE(detach.options->force);
  const ParsedOptions forced =
      parse({"--dataplane", "xdp", "--xdp-interface", "eth1", "--xdp-detach", "--force"});
  ASSERT_TRUE(forced.options.has_value()) << forced.output;
  EXPECT_TRUE(forced.options->force);
}

TEST_F(DaemonOptionsTest, BadXdpOptionsAreErrors) {
  expect_error(parse({"--dataplane", "xdp", "--hash-seed", kSeed}),
               "--dataplane xdp needs --xdp-interface");
  expect_error(parse({"--dataplane", "xdp", "--xdp-interface", "eth1", "--xdp-mode", "skb",
                      "--hash-seed", kSeed}),
               "--xdp-mode: \"skb\" is neither native nor generic");
  expect_error(parse({"--dataplane", "xdp", "--xdp-interface", "eth1", "--xdp-pin-dir", "pins",
                      "--hash-seed", kSeed}),
               "--xdp-pin-dir: \"pins\" is not an absolute path");
  expect_error(parse_with_required({"--dataplane", "xdp", "--xdp-interface", "eth1"}),
               "--profile and --profile-set configure DPDK");
  expect_error(parse_with_required({"--xdp-interface", "eth1"}),
               "--xdp-interface and --xdp-detach need --dataplane xdp");
  expect_error(parse_with_required({"--xdp-detach"}),
               "--xdp-interface and --xdp-detach need --dataplane xdp");
  // --force only ever forces a detach, never a start.
  expect_error(parse({"--dataplane", "xdp", "--xdp-interface", "eth1", "--force", "--hash-seed",
                      kSeed}),
               "--force goes with --xdp-detach");
  expect_error(parse_with_required({"--force"}), "--force goes with --xdp-detach");
}

// --config reads the same option names from an INI file.
TEST_F(DaemonOptionsTest, ConfigFileValuesAreRead) {
  const std::string path = write("sluiced.conf",
                                 "# sluiced options\n"
                                 "profile = lab.ini\n"
                                 "hash-seed = 0123456789abcdef0123456789abcdef\n"
                                 "services = /etc/sluice/services.json\n"
                                 "next-hop-mac = 02:00:00:00:00:09\n"
                                 "log-level = warn\n"
                                 "flow-capacity = 4096\n"
                                 "profile-set = eal.file_prefix=lb2\n");
  const ParsedOptions r = parse({"--config", path});
  ASSERT_TRUE(r.options.has_value()) << r.output;
  const DaemonOptions& o = *r.options;
  EXPECT_EQ(o.profile_path, "lab.ini");
  EXPECT_EQ(o.seed.k0, 0x0123456789abcdefull);
  EXPECT_EQ(o.seed.k1, 0x0123456789abcdefull);
  EXPECT_EQ(o.services_path, "/etc/sluice/services.json");
  EXPECT_TRUE(o.next_hop_set);
  EXPECT_EQ(o.forwarding.next_hop_mac, (engine::MacAddress{0x02, 0, 0, 0, 0, 0x09}));
  EXPECT_EQ(o.log_level, "warn");
  EXPECT_EQ(o.flow_capacity, 4096u);
  EXPECT_THAT(o.profile_overrides, ElementsAre("eal.file_prefix=lb2"));
}

// The short form -c names the config file too.
TEST_F(DaemonOptionsTest, ShortConfigFlag) {
  const std::string path = write("short.conf", "profile = p.ini\nhash-seed = " + std::string(kSeed) + "\n");
  const ParsedOptions r = parse({"-c", path});
  ASSERT_TRUE(r.options.has_value()) << r.output;
  EXPECT_EQ(r.options->profile_path, "p.ini");
}

// The command line wins over the file for the same option.
TEST_F(DaemonOptionsTest, CommandLineWinsOverConfigFile) {
  const std::string path = write("sluiced.conf",
                                 "profile = file.ini\n"
                                 "hash-seed = ffffffffffffffffffffffffffffffff\n"
                                 "log-level = warn\n"
                                 "log-format = json\n");
  const ParsedOptions r = parse({"--config", path, "--profile", "cli.ini", "--log-level", "debug"});
  ASSERT_TRUE(r.options.has_value()) << r.output;
  EXPECT_EQ(r.options->profile_path, "cli.ini");
  EXPECT_EQ(r.options->log_level, "debug");
  // What the command line does not give still comes from the file.
  EXPECT_EQ(r.options->log_format, "json");
  EXPECT_EQ(r.options->seed.k0, ~uint64_t{0});
}

// A --config file that cannot be read is an error naming its path.
TEST_F(DaemonOptionsTest, MissingConfigFileIsAnError) {
  const std::string path = (dir_ / "absent.conf").string();
  expect_error(parse({"--config", path}), "--config: cannot read " + path);
}

// An unknown key in the config file is refused, naming the key.
TEST_F(DaemonOptionsTest, UnknownKeyInConfigFileIsAnError) {
  const std::string path = write("bad.conf", "profile = p.ini\nhash-seed = " + std::string(kSeed) +
                                                 "\nfrobnicate = 1\n");
  expect_error(parse({"--config", path}), "frobnicate");
}

// A bad value in the config file gets the same check as on the command line.
TEST_F(DaemonOptionsTest, BadValueInConfigFileIsAnError) {
  const std::string path = write("bad.conf", "profile = p.ini\nhash-seed = 1234\n");
  expect_error(parse({"--config", path}), "--hash-seed: expected 32 hex digits, got \"1234\"");
  const std::string path2 = write("bad2.conf", "flow-capacity = many\n");
  expect_error(parse({"--config", path2, "--profile", "p.ini", "--hash-seed", kSeed}),
               "flow-capacity");
}

// A config-file line without '=' is a syntax error quoting the line.
TEST_F(DaemonOptionsTest, MalformedConfigFileLineIsAnError) {
  const std::string path = write("bad.conf", "profile p.ini\n");
  const ParsedOptions r = parse({"--config", path, "--hash-seed", kSeed});
  EXPECT_FALSE(r.options.has_value());
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_THAT(r.output, HasSubstr("profile p.ini"));
}

// --hash-seed-file reads the seed, surrounding whitespace and newline included.
TEST_F(DaemonOptionsTest, HashSeedFileIsRead) {
  const std::string path = write("seed", "  fedcba9876543210fedcba9876543210\n");
  const ParsedOptions r = parse({"--profile", "p.ini", "--hash-seed-file", path});
  ASSERT_TRUE(r.options.has_value()) << r.output;
  EXPECT_EQ(r.options->seed.k0, 0xfedcba9876543210ull);
  EXPECT_EQ(r.options->seed.k1, 0xfedcba9876543210ull);
}

// A missing seed file is an error naming its path.
TEST_F(DaemonOptionsTest, MissingHashSeedFileIsAnError) {
  const std::string path = (dir_ / "no-seed").string();
  expect_error(parse({"--profile", "p.ini", "--hash-seed-file", path}),
               "--hash-seed-file: cannot read " + path);
}

// A seed file holding a malformed or no seed is refused like --hash-seed.
TEST_F(DaemonOptionsTest, MalformedHashSeedFileIsAnError) {
  const std::string bad = write("bad-seed", "0011\n");
  expect_error(parse({"--profile", "p.ini", "--hash-seed-file", bad}),
               "--hash-seed: expected 32 hex digits, got \"0011\"");
  const std::string empty = write("empty-seed", "");
  expect_error(parse({"--profile", "p.ini", "--hash-seed-file", empty}),
               "--hash-seed (or --hash-seed-file) is required");
}

// parse_seed: goldens, both cases of hex digits, and refusals.
TEST_F(DaemonOptionsTest, ParseSeedGoldens) {
  auto a = parse_seed("00112233445566778899aabbccddeeff");
  ASSERT_TRUE(a.has_value());
  EXPECT_EQ(a->k0, 0x0011223344556677ull);
  EXPECT_EQ(a->k1, 0x8899aabbccddeeffull);
  auto b = parse_seed("FFFFFFFFFFFFFFFF0000000000000001");
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(b->k0, 0xffffffffffffffffull);
  EXPECT_EQ(b->k1, 0x0000000000000001ull);
  auto c = parse_seed("0123456789AbCdEf0123456789aBcDeF");
  ASSERT_TRUE(c.has_value());
  EXPECT_EQ(c->k0, 0x0123456789abcdefull);
  EXPECT_EQ(c->k1, 0x0123456789abcdefull);
  for (const char* bad : {"", "0", "00112233445566778899aabbccddeef", "00112233445566778899aabbccddeeff0",
                          "0011223344556677 899aabbccddeeff", "00112233445566778899aabbccddeeg0",
                          "+0112233445566778899aabbccddeeff", "0011223344556677-899aabbccddeeff"}) {
    EXPECT_FALSE(parse_seed(bad).has_value()) << bad;
  }
}

// parse_mac: goldens, mixed case, and refusals of every malformed shape.
TEST_F(DaemonOptionsTest, ParseMacGoldens) {
  EXPECT_EQ(parse_mac("02:00:00:00:00:01"), (engine::MacAddress{0x02, 0, 0, 0, 0, 0x01}));
  EXPECT_EQ(parse_mac("AA:bb:Cc:dD:ee:FF"), (engine::MacAddress{0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff}));
  EXPECT_EQ(parse_mac("00:00:00:00:00:00"), (engine::MacAddress{}));
  EXPECT_EQ(parse_mac("12:34:56:78:9a:bc"), (engine::MacAddress{0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc}));
  for (const char* bad :
       {"", "02:00:00:00:00", "02:00:00:00:00:01:02", "02:00:00:00:00:1", "2:00:00:00:00:01",
        "02-00-00-00-00-01", "02:00:00:00:00:0g", "02:00:00:00:00:01x", "020000000001",
        "02:00:00:00:00:001", " 02:00:00:00:00:01",
        // sscanf's %x would take these: a space, a sign or a 0x prefix in a byte.
        "02: 0:00:00:00:01", "02:+1:00:00:00:01", "02:-1:00:00:00:01", "0x:00:00:00:00:01",
        "02::00:00:00:00:1"}) {
    EXPECT_FALSE(parse_mac(bad).has_value()) << "\"" << bad << "\"";
  }
}

// --- The TCP listener of the control API ---

class DaemonTcpOptionsTest : public DaemonOptionsTest {
 protected:
  void SetUp() override {
    DaemonOptionsTest::SetUp();
    cert_ = write("server.pem", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");
    key_ = write("server.key", "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n");
    ca_ = write("ca.pem", "-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----\n");
  }
  // Control-plane mode with a TLS listener, then `more`.
  ParsedOptions parse_tls(const Args& more) {
    Args args = {"--state-dir", "/tmp/s", "--listen-tcp", "127.0.0.1:7443", "--tls-cert", cert_,
                 "--tls-key", key_, "--tls-client-ca", ca_};
    args.insert(args.end(), more.begin(), more.end());
    return parse_with_required(args);
  }
  std::string cert_, key_, ca_;
};

// No TCP listener by default.
TEST_F(DaemonTcpOptionsTest, OffByDefault) {
  const ParsedOptions r = parse_with_required({"--state-dir", "/tmp/s"});
  ASSERT_TRUE(r.options.has_value()) << r.output;
  EXPECT_TRUE(r.options->listen_tcp.empty());
  EXPECT_FALSE(r.options->insecure);
  EXPECT_TRUE(r.options->operators.empty());
  EXPECT_TRUE(r.options->read_only.empty());
}

// A TLS listener with repeatable roles is read in order.
TEST_F(DaemonTcpOptionsTest, TlsListenerAndRolesRead) {
  const ParsedOptions r = parse_tls({"--operator", "subject:CN=rollouts", "--operator",
                                     "san:URI:spiffe://fleet/deployer", "--read-only",
                                     "san:DNS:dash.example.com"});
  ASSERT_TRUE(r.options.has_value()) << r.output;
  EXPECT_EQ(r.options->listen_tcp, "127.0.0.1:7443");
  EXPECT_EQ(r.options->tls_cert_path, cert_);
  EXPECT_EQ(r.options->tls_key_path, key_);
  EXPECT_EQ(r.options->tls_client_ca_path, ca_);
  ASSERT_EQ(r.options->operators.size(), 2u);
  EXPECT_EQ(r.options->operators[0].to_string(), "subject:CN=rollouts");
  EXPECT_EQ(r.options->operators[1].to_string(), "san:URI:spiffe://fleet/deployer");
  ASSERT_EQ(r.options->read_only.size(), 1u);
  EXPECT_EQ(r.options->read_only[0].kind, api::Identity::Kind::kDns);
  EXPECT_EQ(r.options->read_only[0].value, "dash.example.com");
}

// The listener and roles can come from the --config file.
TEST_F(DaemonTcpOptionsTest, ConfigFileRoles) {
  const std::string config = write("sluiced.ini",
                                   "state-dir = /tmp/s\nlisten-tcp = [::1]:7443\ntls-cert = " +
                                       cert_ + "\ntls-key = " + key_ + "\ntls-client-ca = " + ca_ +
                                       "\noperator = subject:CN=rollouts\noperator = subject:CN=ci\n"
                                       "read-only = subject:CN=viewer\n");
  const ParsedOptions r = parse_with_required({"--config", config});
  ASSERT_TRUE(r.options.has_value()) << r.output;
  EXPECT_EQ(r.options->listen_tcp, "[::1]:7443");
  ASSERT_EQ(r.options->operators.size(), 2u);
  EXPECT_EQ(r.options->operators[1].value, "ci");
  ASSERT_EQ(r.options->read_only.size(), 1u);
  EXPECT_EQ(r.options->read_only[0].value, "viewer");
}

// --insecure: plain TCP, no TLS files, no roles.
TEST_F(DaemonTcpOptionsTest, InsecureListener) {
  const ParsedOptions r = parse_with_required(
      {"--state-dir", "/tmp/s", "--listen-tcp", "127.0.0.1:7443", "--insecure"});
  ASSERT_TRUE(r.options.has_value()) << r.output;
  EXPECT_TRUE(r.options->insecure);
  EXPECT_TRUE(r.options->tls_cert_path.empty());
}

// --listen-tcp without TLS files or --insecure is refused, naming the first missing file.
TEST_F(DaemonTcpOptionsTest, ListenTcpNeedsTlsOrInsecure) {
  expect_error(parse_with_required({"--state-dir", "/tmp/s", "--listen-tcp", "127.0.0.1:7443",
                                    "--operator", "subject:CN=x"}),
               "--listen-tcp needs --tls-cert (TLS with client certificates), or --insecure");
  expect_error(parse_with_required({"--state-dir", "/tmp/s", "--listen-tcp", "127.0.0.1:7443",
                                    "--tls-cert", cert_, "--tls-key", key_, "--operator",
                                    "subject:CN=x"}),
               "--listen-tcp needs --tls-client-ca");
}

// TLS without any identity would refuse everyone: an error.
TEST_F(DaemonTcpOptionsTest, TlsNeedsAnIdentity) {
  expect_error(parse_tls({}), "name at least one --operator or --read-only identity");
}

// Missing or non-PEM files are named with their option.
TEST_F(DaemonTcpOptionsTest, BadTlsFilesNamed) {
  const std::string missing = (dir_ / "missing.pem").string();
  expect_error(parse_with_required({"--state-dir", "/tmp/s", "--listen-tcp", "127.0.0.1:7443",
                                    "--tls-cert", missing, "--tls-key", key_, "--tls-client-ca",
                                    ca_, "--operator", "subject:CN=x"}),
               "--tls-cert: cannot read " + missing);
  expect_error(parse_with_required({"--state-dir", "/tmp/s", "--listen-tcp", "127.0.0.1:7443",
                                    "--tls-cert", cert_, "--tls-key", cert_, "--tls-client-ca",
                                    ca_, "--operator", "subject:CN=x"}),
               "--tls-key: " + cert_ + " holds no PEM PRIVATE KEY");
  expect_error(parse_with_required({"--state-dir", "/tmp/s", "--listen-tcp", "127.0.0.1:7443",
                                    "--tls-cert", cert_, "--tls-key", key_, "--tls-client-ca",
                                    write("empty.pem", ""), "--operator", "subject:CN=x"}),
               "--tls-client-ca: " + (dir_ / "empty.pem").string() + " holds no PEM CERTIFICATE");
}

// Malformed addresses are refused with the expected form.
TEST_F(DaemonTcpOptionsTest, BadListenAddress) {
  for (const char* address : {"7443", ":7443", "127.0.0.1", "127.0.0.1:", "127.0.0.1:0",
                              "127.0.0.1:65536", "127.0.0.1:-1", "127.0.0.1:74x", "localhost:7443",
                              "::1:7443", "[127.0.0.1]:7443", "[::1]", "[]:7443", "1.2.3:7443"}) {
    expect_error(parse_with_required({"--state-dir", "/tmp/s", "--listen-tcp", address,
                                      "--insecure"}),
                 std::string("--listen-tcp: \"") + address + "\" is not IP:PORT");
  }
  for (const char* address : {"0.0.0.0:1", "[::]:65535", "10.1.2.3:7443"}) {
    const ParsedOptions r = parse_with_required(
        {"--state-dir", "/tmp/s", "--listen-tcp", address, "--insecure"});
    EXPECT_TRUE(r.options.has_value()) << address << ": " << r.output;
  }
}

// A bad identity names its option and the syntax.
TEST_F(DaemonTcpOptionsTest, BadIdentity) {
  expect_error(parse_tls({"--operator", "CN=rollouts"}),
               "--operator: \"CN=rollouts\" is not an identity: expected subject:CN=NAME");
  expect_error(parse_tls({"--read-only", "san:DNS:"}), "--read-only: \"san:DNS:\" names no value");
  expect_error(parse_tls({"--operator", "subject:CN=x", "--read-only", "subject:CN=x"}),
               "\"subject:CN=x\" is named by both --operator and --read-only");
}

// Options that only make sense with others are refused alone.
TEST_F(DaemonTcpOptionsTest, OptionsOutOfContext) {
  expect_error(parse_with_required({"--listen-tcp", "127.0.0.1:7443", "--insecure"}),
               "--listen-tcp needs --state-dir");
  expect_error(parse_with_required({"--state-dir", "/tmp/s", "--insecure"}),
               "--insecure needs --listen-tcp");
  expect_error(parse_with_required({"--state-dir", "/tmp/s", "--tls-cert", cert_}),
               "--tls-cert, --tls-key and --tls-client-ca need --listen-tcp");
  expect_error(parse_with_required({"--state-dir", "/tmp/s", "--operator", "subject:CN=x"}),
               "--operator and --read-only name TLS clients: they need --listen-tcp");
  expect_error(parse_tls({"--insecure", "--operator", "subject:CN=x"}),
               "--insecure means no TLS: it excludes --tls-cert");
  expect_error(parse_with_required({"--state-dir", "/tmp/s", "--listen-tcp", "127.0.0.1:7443",
                                    "--insecure", "--read-only", "subject:CN=x"}),
               "--insecure: without TLS there are no client identities");
}

// --- Prometheus /metrics (--metrics-listen) ---

// Off by default.
TEST_F(DaemonOptionsTest, MetricsOffByDefault) {
  auto r = parse_with_required({});
  ASSERT_TRUE(r.options.has_value()) << r.output;
  EXPECT_TRUE(r.options->metrics_listen.empty());
}

// IPv4, bracketed IPv6 and localhost (read as 127.0.0.1, no name lookup).
TEST_F(DaemonOptionsTest, MetricsListenAddresses) {
  for (const auto& [given, bound] : {std::pair{"127.0.0.1:9100", "127.0.0.1:9100"},
                                     std::pair{"[::1]:9100", "[::1]:9100"},
                                     std::pair{"localhost:9100", "127.0.0.1:9100"},
                                     std::pair{"0.0.0.0:65535", "0.0.0.0:65535"},
                                     std::pair{"[::]:1", "[::]:1"}}) {
    auto r = parse_with_required({"--metrics-listen", given});
    ASSERT_TRUE(r.options.has_value()) << given << ": " << r.output;
    EXPECT_EQ(r.options->metrics_listen, bound) << given;
  }
}

// From the --config file, like every other option.
TEST_F(DaemonOptionsTest, MetricsListenFromConfigFile) {
  const std::string ini = write("sluiced.ini", "metrics-listen = localhost:9200\n");
  auto r = parse_with_required({"--config", ini});
  ASSERT_TRUE(r.options.has_value()) << r.output;
  EXPECT_EQ(r.options->metrics_listen, "127.0.0.1:9200");
}

// Anything else is refused, naming the option and the expected form.
TEST_F(DaemonOptionsTest, BadMetricsListen) {
  for (const char* address : {"9100", ":9100", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:65536",
                              "127.0.0.1:http", "::1:9100", "[127.0.0.1]:9100", "[::1]9100",
                              "metrics.example:9100", "localhost:", "LOCALHOST:x", "[::1]:-1"}) {
    expect_error(parse_with_required({"--metrics-listen", address}),
                 std::string("--metrics-listen: \"") + address + "\" is not ADDR:PORT");
  }
}

// Beyond loopback earns a warning (no authentication); loopback does not.
TEST(MetricsListenWarning, OnlyBeyondLoopback) {
  for (const char* loopback : {"127.0.0.1:9100", "127.1.2.3:9100", "[::1]:9100"}) {
    EXPECT_EQ(metrics_listen_warning(loopback), "") << loopback;
  }
  for (const char* open : {"0.0.0.0:9100", "10.0.0.5:9100", "[::]:9100", "[2001:db8::1]:9100"}) {
    EXPECT_THAT(metrics_listen_warning(open),
                HasSubstr(std::string("/metrics listens on ") + open +
                          " beyond loopback, without authentication"))
        << open;
  }
}

}  // namespace
}  // namespace sluice::control
