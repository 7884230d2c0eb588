// SPDX-License-Identifier: Apache-2.0
#include "control/state/file_state_store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>

#include "control/config/json_syntax.h"
#include "tests/control/state/state_test_util.h"

namespace sluice::control {
namespace {

using ::testing::HasSubstr;
using namespace state_test;

class FileStateStoreTest : public ::testing::Test {
 protected:
  std::string dir() const { return scratch_.path() + "/state"; }
  std::string file() const { return dir() + "/state.json"; }
  std::string temp() const { return dir() + "/state.json.tmp"; }

  std::optional<DesiredState> load(const std::string& directory) {
    error_.clear();
    return make_file_state_store(directory)->load(&error_);
  }
  bool save(const std::string& directory, const DesiredState& state) {
    error_.clear();
    return make_file_state_store(directory)->save(state, &error_);
  }

  // Writes `content` as state.json, loads it and expects an error that
  // names the file and contains `expected`, with the file left as it was.
  void expect_load_error(const std::string& content, const std::string& expected) {
    SCOPED_TRACE(content.substr(0, 200));
    std::filesystem::create_directories(dir());
    write_text(file(), content);
    const auto state = load(dir());
    EXPECT_FALSE(state.has_value());
    EXPECT_THAT(error_, HasSubstr(file()));
    EXPECT_THAT(error_, HasSubstr(expected));
    EXPECT_EQ(read_text(file()), content);
    EXPECT_FALSE(exists(temp()));
  }

  // A valid saved document to break in various ways.
  std::string saved_text() {
    EXPECT_TRUE(save(dir(), {3, {web_v4()}})) << error_;
    return read_text(file());
  }

  ScratchDir scratch_;
  std::string error_;
};

// No directory at all: an empty state at revision 0, and nothing is created.
TEST_F(FileStateStoreTest, LoadWithoutDirectoryIsEmptyAtRevisionZero) {
  const auto state = load(dir());
  ASSERT_TRUE(state.has_value()) << error_;
  EXPECT_EQ(state->revision, 0u);
  EXPECT_TRUE(state->services.empty());
  EXPECT_FALSE(exists(dir()));
}

// An existing directory without state.json: empty at revision 0.
TEST_F(FileStateStoreTest, LoadWithoutFileIsEmptyAtRevisionZero) {
  std::filesystem::create_directories(dir());
  const auto state = load(dir());
  ASSERT_TRUE(state.has_value()) << error_;
  EXPECT_EQ(state->revision, 0u);
  EXPECT_TRUE(state->services.empty());
}

// save() creates the missing directory and its parents with mode 0750, the
// file with 0640, and leaves no temporary file behind.
TEST_F(FileStateStoreTest, SaveCreatesMissingDirectories) {
  const std::string nested = scratch_.path() + "/a/b/state";
  ASSERT_TRUE(save(nested, {1, {defaults_only()}})) << error_;
  EXPECT_TRUE(exists(nested + "/state.json"));
  EXPECT_FALSE(exists(nested + "/state.json.tmp"));
  const mode_t mask = current_umask();
  EXPECT_EQ(mode_of(nested), 0750 & ~mask);
  EXPECT_EQ(mode_of(scratch_.path() + "/a"), 0750 & ~mask);
  EXPECT_EQ(mode_of(nested + "/state.json"), 0640 & ~mask);
  const auto state = load(nested);
  ASSERT_TRUE(state.has_value()) << error_;
  EXPECT_EQ(state->revision, 1u);
}

// Every field away from its default (IPv4 and IPv6, every enum value, zeros
// where zero is allowed, rules) comes back exactly, with the revision.
TEST_F(FileStateStoreTest, RoundTripEveryField) {
  const DesiredState saved{17, {web_v4(), api_v6(), defaults_only()}};
  ASSERT_TRUE(save(dir(), saved)) << error_;
  const auto loaded = load(dir());
  ASSERT_TRUE(loaded.has_value()) << error_;
  expect_same_state(saved, *loaded);
}

// Engine defaults come back as the same values (the file writes them out).
TEST_F(FileStateStoreTest, RoundTripKeepsDefaults) {
  ASSERT_TRUE(save(dir(), {1, {defaults_only()}})) << error_;
  const auto loaded = load(dir());
  ASSERT_TRUE(loaded.has_value()) << error_;
  ASSERT_EQ(loaded->services.size(), 1u);
  const engine::ServiceConfig& s = loaded->services[0];
  EXPECT_EQ(s.client_prefix_v4, 24);
  EXPECT_EQ(s.client_prefix_v6, 64);
  EXPECT_EQ(s.gue_port, 6080);
  EXPECT_EQ(s.maglev_table_size, 65537u);
  EXPECT_EQ(s.circuit.max_ejection_ms, 300000u);
  EXPECT_EQ(s.timeouts.tcp_established_ms, 10800000u);
  EXPECT_EQ(s.pools[0].backends[0].weight, 1u);
  config::expect_same_service(defaults_only(), s);
}

// Hundreds of services keep their order and every field.
TEST_F(FileStateStoreTest, RoundTripManyServices) {
  const DesiredState saved{123456, many_services(300)};
  ASSERT_TRUE(save(dir(), saved)) << error_;
  const auto loaded = load(dir());
  ASSERT_TRUE(loaded.has_value()) << error_;
  expect_same_state(saved, *loaded);
}

// What was saved compiles to the same tables as what was loaded: a restart
// moves no flow.
TEST_F(FileStateStoreTest, LoadedStateCompilesToTheSameSnapshot) {
  std::vector<engine::ServiceConfig> services = {web_v4(), api_v6(), defaults_only()};
  for (const auto& s : many_services(40)) services.push_back(s);
  ASSERT_TRUE(save(dir(), {9, services})) << error_;
  const auto loaded = load(dir());
  ASSERT_TRUE(loaded.has_value()) << error_;
  expect_same_snapshot(services, loaded->services);
}

// The revision is a full 64-bit number, and 0 with no services round-trips.
TEST_F(FileStateStoreTest, RevisionKeptAcrossTheWholeRange) {
  for (uint64_t revision : {uint64_t{0}, uint64_t{1}, uint64_t{1} << 53 | 1, ~uint64_t{0}}) {
    ASSERT_TRUE(save(dir(), {revision, {}})) << error_;
    const auto loaded = load(dir());
    ASSERT_TRUE(loaded.has_value()) << error_;
    EXPECT_EQ(loaded->revision, revision);
    EXPECT_TRUE(loaded->services.empty());
  }
}

// Each save replaces the previous state entirely; the file is strict JSON
// with proto field names.
TEST_F(FileStateStoreTest, SaveReplacesThePreviousState) {
  ASSERT_TRUE(save(dir(), {1, {web_v4(), api_v6()}})) << error_;
  ASSERT_TRUE(save(dir(), {2, {defaults_only()}})) << error_;
  const auto loaded = load(dir());
  ASSERT_TRUE(loaded.has_value()) << error_;
  expect_same_state({2, {defaults_only()}}, *loaded);
  const std::string text = read_text(file());
  EXPECT_FALSE(config::check_json_syntax(text).error.has_value());
  EXPECT_THAT(text, HasSubstr("\"revision\": \"2\""));
  EXPECT_THAT(text, HasSubstr("\"maglev_table_size\": 65537"));
  EXPECT_EQ(text.back(), '\n');
  EXPECT_FALSE(exists(temp()));
}

// A state.json.tmp from an interrupted save is ignored by load() (with or
// without a state.json) and replaced by the next save().
TEST_F(FileStateStoreTest, StaleTempFileIsIgnored) {
  std::filesystem::create_directories(dir());
  write_text(temp(), "{\"revision\": \"9\", \"serv");
  auto loaded = load(dir());
  ASSERT_TRUE(loaded.has_value()) << error_;
  EXPECT_EQ(loaded->revision, 0u);

  ASSERT_TRUE(save(dir(), {3, {defaults_only()}})) << error_;
  EXPECT_FALSE(exists(temp()));
  // A complete but newer temp file is still not the state: it was never
  // renamed, so the save it belongs to was never acknowledged.
  std::filesystem::copy_file(file(), temp());
  ASSERT_TRUE(save(scratch_.path() + "/other", {9, {web_v4()}})) << error_;
  std::filesystem::copy_file(scratch_.path() + "/other/state.json", temp(),
                             std::filesystem::copy_options::overwrite_existing);
  loaded = load(dir());
  ASSERT_TRUE(loaded.has_value()) << error_;
  expect_same_state({3, {defaults_only()}}, *loaded);
  EXPECT_TRUE(exists(temp()));  // load() deletes nothing
}

// A JSON document cut short (as a torn write would leave it).
TEST_F(FileStateStoreTest, TruncatedFileIsAnError) {
  const std::string text = saved_text();
  expect_load_error(text.substr(0, text.size() / 2), "line ");
}

// Bytes that are not JSON at all.
TEST_F(FileStateStoreTest, GarbageIsAnError) {
  expect_load_error(std::string("\x7f" "ELF\x02\x01\x01\0\0\0", 10), "line 1, column 1");
  expect_load_error("revision = 3\n", "line 1, column 1");
}

// An empty file is not an empty state.
TEST_F(FileStateStoreTest, EmptyFileIsAnError) {
  expect_load_error("", "empty");
  expect_load_error("  \n", "empty");
}

// Valid JSON that is not an object.
TEST_F(FileStateStoreTest, NonObjectIsAnError) {
  expect_load_error("[]\n", "not a JSON object");
  expect_load_error("null\n", "not a JSON object");
}

// "{}" (or services without a revision) must not pass for revision 0.
TEST_F(FileStateStoreTest, MissingRevisionIsAnError) {
  expect_load_error("{}\n", "revision: missing");
  expect_load_error("{\"services\": []}\n", "revision: missing");
}

// A value of the wrong JSON type is named by its field.
TEST_F(FileStateStoreTest, WrongTypesAreNamed) {
  expect_load_error("{\"revision\": \"three\", \"services\": []}", "revision");
  expect_load_error("{\"revision\": -1, \"services\": []}", "revision");
  expect_load_error("{\"revision\": \"1\", \"services\": {}}", "services");
  std::string text = saved_text();
  const std::string port = "\"port\": 8443";
  ASSERT_NE(text.find(port), std::string::npos);
  text.replace(text.find(port), port.size(), "\"port\": \"https\"");
  expect_load_error(text, "services[0].port");
  text = saved_text();
  const std::string enabled = "\"enabled\": false";
  ASSERT_NE(text.find(enabled), std::string::npos);
  text.replace(text.find(enabled), enabled.size(), "\"enabled\": 0");
  expect_load_error(text, "services[0].circuit.enabled");
}

// An unknown key, at the top or deep inside, is an error naming its path.
TEST_F(FileStateStoreTest, UnknownFieldsAreNamed) {
  expect_load_error("{\"revision\": \"1\", \"services\": [], \"bogus\": 1}",
                    "bogus: unknown field");
  std::string text = saved_text();
  const std::string weight = "\"weight\": 900";
  ASSERT_NE(text.find(weight), std::string::npos);
  text.replace(text.find(weight), weight.size(), "\"weigth\": 900");
  expect_load_error(text, "services[0].pools[0].weigth: unknown field");
}

// A repeated key is refused (protobuf alone would keep the last value).
TEST_F(FileStateStoreTest, RepeatedKeyIsAnError) {
  expect_load_error("{\"revision\": \"1\", \"revision\": \"2\", \"services\": []}", "revision");
}

// Services the engine would refuse are an error naming the field.
TEST_F(FileStateStoreTest, InvalidServicesAreNamed) {
  std::string text = saved_text();
  const std::string address = "\"10.0.0.22\"";
  ASSERT_NE(text.find(address), std::string::npos);
  text.replace(text.find(address), address.size(), "\"10.0.0.21\"");
  expect_load_error(text, "services[0].pools[0].backends[1].address: duplicate backend");

  text = saved_text();
  const std::string maglev = "\"maglev_table_size\": 251";
  ASSERT_NE(text.find(maglev), std::string::npos);
  text.replace(text.find(maglev), maglev.size(), "\"maglev_table_size\": 250");
  expect_load_error(text, "services[0].maglev_table_size");

  text = saved_text();
  const std::string vip = "\"10.77.100.10\"";
  ASSERT_NE(text.find(vip), std::string::npos);
  text.replace(text.find(vip), vip.size(), "\"10.77.100.300\"");
  expect_load_error(text, "services[0].vip");

  text = saved_text();
  // The pool's weight is its last key: take it out with the comma before it.
  const std::string weight = "\"weight\": 900";
  const size_t at = text.find(weight);
  ASSERT_NE(at, std::string::npos);
  const size_t comma = text.rfind(',', at);
  text.erase(comma, at + weight.size() - comma);
  expect_load_error(text, "services[0].pools[0].weight: must be set");
}

// Two services on the same listener: the error spans services.
TEST_F(FileStateStoreTest, ClashingServicesAreAnError) {
  engine::ServiceConfig twin = web_v4();
  twin.name = "twin";
  twin.port = 9443;
  ASSERT_TRUE(save(dir(), {4, {web_v4(), twin}})) << error_;
  std::string text = read_text(file());
  const std::string port = "\"port\": 9443";
  ASSERT_NE(text.find(port), std::string::npos);
  text.replace(text.find(port), port.size(), "\"port\": 8443");
  expect_load_error(text, "services[1]: VIP 10.77.100.10 port 8443 is already served");
}

// save() refuses a state that load() would refuse, and keeps the old one.
TEST_F(FileStateStoreTest, SaveRefusesAStateThatWouldNotLoad) {
  ASSERT_TRUE(save(dir(), {4, {web_v4()}})) << error_;
  const std::string before = read_text(file());
  engine::ServiceConfig twin = web_v4();
  twin.name = "twin";
  EXPECT_FALSE(save(dir(), {5, {web_v4(), twin}}));
  EXPECT_THAT(error_, HasSubstr(file()));
  EXPECT_THAT(error_, HasSubstr("services[1]: VIP 10.77.100.10 port 8443 is already served"));
  engine::ServiceConfig broken = defaults_only();
  broken.pools[0].backends.clear();
  EXPECT_FALSE(save(dir(), {5, {broken}}));
  EXPECT_THAT(error_,
              HasSubstr("services[0].pools[0].backends: a pool needs at least one backend"));
  EXPECT_EQ(read_text(file()), before);
  EXPECT_FALSE(exists(temp()));
}

// A FIFO in place of state.json is refused at once, not waited on.
TEST_F(FileStateStoreTest, StateFileThatIsAFifoIsAnError) {
  std::filesystem::create_directories(dir());
  ASSERT_EQ(0, ::mkfifo(file().c_str(), 0640));
  EXPECT_FALSE(load(dir()).has_value());
  EXPECT_THAT(error_, HasSubstr(file()));
  EXPECT_THAT(error_, HasSubstr("not a regular file"));
}

// state.json that is a directory cannot be read.
TEST_F(FileStateStoreTest, StateFileThatIsADirectoryIsAnError) {
  std::filesystem::create_directories(file());
  EXPECT_FALSE(load(dir()).has_value());
  EXPECT_THAT(error_, HasSubstr(file()));
  EXPECT_THAT(error_, HasSubstr("Is a directory"));
}

// An unreadable state.json is an error, not an empty state.
TEST_F(FileStateStoreTest, UnreadableFileIsAnError) {
  if (::geteuid() == 0) GTEST_SKIP() << "root reads files whatever their mode";
  ASSERT_TRUE(save(dir(), {2, {defaults_only()}})) << error_;
  ASSERT_EQ(0, ::chmod(file().c_str(), 0));
  EXPECT_FALSE(load(dir()).has_value());
  EXPECT_THAT(error_, HasSubstr(file()));
  EXPECT_THAT(error_, HasSubstr("Permission denied"));
}

// The state directory replaced by a file: save() fails naming the path,
// and neither the file nor the old state (moved away) changes.
TEST_F(FileStateStoreTest, SaveWhereTheDirectoryIsAFileFails) {
  ASSERT_TRUE(save(dir(), {1, {defaults_only()}})) << error_;
  const std::string moved = scratch_.path() + "/moved";
  std::filesystem::rename(dir(), moved);
  const std::string old_text = read_text(moved + "/state.json");
  write_text(dir(), "not a directory");

  EXPECT_FALSE(save(dir(), {2, {web_v4()}}));
  EXPECT_THAT(error_, HasSubstr(dir()));
  EXPECT_THAT(error_, HasSubstr("Not a directory"));
  EXPECT_EQ(read_text(dir()), "not a directory");
  EXPECT_EQ(read_text(moved + "/state.json"), old_text);
  // Loading from there is an error too, not an empty state.
  EXPECT_FALSE(load(dir()).has_value());
  EXPECT_THAT(error_, HasSubstr("Not a directory"));

  // And below it: a parent that is a file.
  EXPECT_FALSE(save(dir() + "/sub", {2, {web_v4()}}));
  EXPECT_THAT(error_, HasSubstr(dir()));
  EXPECT_THAT(error_, HasSubstr("Not a directory"));
}

// The temporary file cannot be created (a directory sits at its name):
// save() fails naming it, and state.json keeps the previous state.
TEST_F(FileStateStoreTest, FailedSaveLeavesThePreviousState) {
  ASSERT_TRUE(save(dir(), {5, {web_v4()}})) << error_;
  const std::string before = read_text(file());
  std::filesystem::create_directories(temp() + "/blocker");

  EXPECT_FALSE(save(dir(), {6, {defaults_only()}}));
  EXPECT_THAT(error_, HasSubstr(temp()));
  EXPECT_THAT(error_, HasSubstr("Is a directory"));
  EXPECT_EQ(read_text(file()), before);
  const auto loaded = load(dir());
  ASSERT_TRUE(loaded.has_value()) << error_;
  EXPECT_EQ(loaded->revision, 5u);
}

// A read-only state directory: save() fails and changes nothing.
TEST_F(FileStateStoreTest, SaveIntoReadOnlyDirectoryFails) {
  if (::geteuid() == 0) GTEST_SKIP() << "root writes whatever the mode";
  ASSERT_TRUE(save(dir(), {1, {defaults_only()}})) << error_;
  const std::string before = read_text(file());
  ASSERT_EQ(0, ::chmod(dir().c_str(), 0550));
  EXPECT_FALSE(save(dir(), {2, {web_v4()}}));
  EXPECT_THAT(error_, HasSubstr(temp()));
  EXPECT_THAT(error_, HasSubstr("Permission denied"));
  EXPECT_EQ(read_text(file()), before);
}

// One store object serves load and save in turn.
TEST_F(FileStateStoreTest, OneStoreSavesAndLoadsRepeatedly) {
  auto store = make_file_state_store(dir());
  for (uint64_t revision = 1; revision <= 5; ++revision) {
    engine::ServiceConfig s = web_v4();
    s.pools[1].weight = static_cast<uint32_t>(revision * 10);
    ASSERT_TRUE(store->save({revision, {s}}, &error_)) << error_;
    const auto loaded = store->load(&error_);
    ASSERT_TRUE(loaded.has_value()) << error_;
    expect_same_state({revision, {s}}, *loaded);
  }
}

}  // namespace
}  // namespace sluice::control
