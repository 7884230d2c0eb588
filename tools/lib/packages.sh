# shellcheck shell=bash
# The Debian 12 packages sluice needs to build, test and demo: the one list,
# sourced by tools/test and tools/demo.
# shellcheck disable=SC2034  # used by common.sh
SLUICE_PACKAGES=(
  # build
  meson ninja-build pkg-config g++
  ccache  # the ThreadSanitizer build (tools/lib/tsan.sh) recompiles what the main one did
  # BPF programs, fuzzers
  clang llvm lld libbpf-dev bpftool
  # dataplane and control plane libraries
  libdpdk-dev dpdk dpdk-dev  # dpdk-dev: dpdk-testpmd, the benchmark baseline
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libspdlog-dev libboost-program-options-dev
  libnl-route-3-dev  # the DPDK exception TAP's addresses and MTU (control/host/)
  prometheus-cpp-dev prometheus  # /metrics (control/metrics); promtool lints it in tests
  # tests and benchmarks
  googletest libgtest-dev libgmock-dev libbenchmark-dev valgrind python3-scapy
  openssl  # throwaway certificates for the control API's TLS tests
  libssl-dev  # HTTPS health checks (control/health/tls_client.cc)
  # the control-plane integration tests' independent client (tests/control/integration/)
  python3-grpcio python3-grpc-tools
  # lab topologies (namespaces, veth)
  iproute2 ethtool iputils-ping curl
)
