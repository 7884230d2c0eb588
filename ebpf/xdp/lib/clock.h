/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The program's clock: wrapping milliseconds of the monotonic clock, as the
 * DPDK engine computes them from its now_ns (engine.cc).
 *
 * The coarse monotonic clock (updated every tick: 1 to 10 ms) rather than
 * bpf_ktime_get_ns: it costs about 15 ns less per packet here (measured:
 * 20 ns against 5), and every time the engine judges (idle timeouts, SYN
 * retry delay, ejection times) is a policy of hundreds of milliseconds or
 * more, where a tick of error changes nothing an operator could notice.
 *
 * Tests replace it: with sluice_test_clock set before loading (read-only
 * data, so production code never reads the .bss value and the verifier
 * drops the branch), the time is sluice_test_now_ns, which the test writes
 * through the skeleton before each run. That lets the parity test give the
 * engine and the program the same now_ns for every packet.
 */
#pragma once

#include "ebpf/xdp/lib/common.h"

const volatile bool sluice_test_clock = false;
uint64_t sluice_test_now_ns = 0;

SLUICE_XDP_INLINE uint32_t sluice_now_ms(void)
{
	const uint64_t ns = sluice_test_clock ? sluice_test_now_ns : bpf_ktime_get_coarse_ns();

	return (uint32_t)(ns / 1000000);
}
