/* SPDX-License-Identifier: Apache-2.0 */
/*
 * The one flow-hash definition of sluice.
 *
 * This header is compiled three ways: as C11, as C++20 by the DPDK engine,
 * and as BPF C (clang -target bpf) by the XDP program. Every backend choice
 * starts from the value computed here, so a flow lands on the same backend
 * whichever dataplane carries it. Keep it free of libc, kernel and DPDK
 * headers: <stdint.h> only, and only `static inline` functions with loops of
 * fixed trip count (the BPF verifier must see them bounded).
 *
 * Why SipHash-1-3 with a 128-bit secret seed: an unkeyed hash lets a client
 * craft source ports that all land on one backend or one flow-table bucket.
 * SipHash is a keyed PRF, cheap on 40 bytes, and needs only 64-bit adds,
 * rotates and xors, which BPF has. The 1-3 variant (one compression round,
 * three finalisation rounds) is the one Rust's and Python's hash tables use
 * for hash-flooding resistance; it is about half the cost of 2-4.
 *
 * Byte order: keys are hashed as little-endian 64-bit words of the struct
 * below, with addresses and ports kept in network byte order exactly as they
 * sit in the packet. Both dataplanes run on little-endian hosts (x86-64,
 * arm64); a big-endian port would have to byte-swap the loads.
 */
#pragma once

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

enum sluice_family {
	SLUICE_AF_INET = 4,
	SLUICE_AF_INET6 = 6,
};

/*
 * A flow key: 40 bytes, five 64-bit words, no implicit padding.
 * IPv4 addresses use the first 4 bytes of src/dst; the other 12 are zero.
 */
struct sluice_flow_key {
	uint8_t src[16];
	uint8_t dst[16];
	uint16_t sport; /* network byte order */
	uint16_t dport; /* network byte order */
	uint8_t proto;  /* IPPROTO_TCP, IPPROTO_UDP, ... */
	uint8_t family; /* enum sluice_family */
	uint8_t pad[2]; /* always zero */
};

/* The secret seed from configuration: 128 bits, identical across a fleet. */
struct sluice_hash_seed {
	uint64_t k0;
	uint64_t k1;
};

#define SLUICE_ROTL64(x, b) (uint64_t)(((x) << (b)) | ((x) >> (64 - (b))))

#define SLUICE_SIPROUND(v0, v1, v2, v3) \
	do { \
		v0 += v1; v1 = SLUICE_ROTL64(v1, 13); v1 ^= v0; v0 = SLUICE_ROTL64(v0, 32); \
		v2 += v3; v3 = SLUICE_ROTL64(v3, 16); v3 ^= v2; \
		v0 += v3; v3 = SLUICE_ROTL64(v3, 21); v3 ^= v0; \
		v2 += v1; v1 = SLUICE_ROTL64(v1, 17); v1 ^= v2; v2 = SLUICE_ROTL64(v2, 32); \
	} while (0)

static inline uint64_t sluice_load_le64(const uint8_t *p)
{
	/* Byte loads: valid for any alignment, and BPF-verifier friendly. */
	return (uint64_t)p[0] | ((uint64_t)p[1] << 8) | ((uint64_t)p[2] << 16) |
	       ((uint64_t)p[3] << 24) | ((uint64_t)p[4] << 32) |
	       ((uint64_t)p[5] << 40) | ((uint64_t)p[6] << 48) |
	       ((uint64_t)p[7] << 56);
}

/*
 * SipHash-1-3 of the message words m[0..n_words) (little-endian 64-bit words
 * of a message of msg_len bytes, msg_len a multiple of 8, at most 40).
 */
static inline uint64_t sluice_siphash13_words(const uint64_t *m, int n_words,
					      uint64_t msg_len,
					      const struct sluice_hash_seed *seed)
{
	uint64_t v0 = seed->k0 ^ 0x736f6d6570736575ULL;
	uint64_t v1 = seed->k1 ^ 0x646f72616e646f6dULL;
	uint64_t v2 = seed->k0 ^ 0x6c7967656e657261ULL;
	uint64_t v3 = seed->k1 ^ 0x7465646279746573ULL;
	uint64_t b = msg_len << 56; /* final block: length, no tail bytes */
	int i;

	for (i = 0; i < 5; i++) {
		if (i >= n_words)
			break;
		v3 ^= m[i];
		SLUICE_SIPROUND(v0, v1, v2, v3);
		v0 ^= m[i];
	}
	v3 ^= b;
	SLUICE_SIPROUND(v0, v1, v2, v3);
	v0 ^= b;
	v2 ^= 0xff;
	SLUICE_SIPROUND(v0, v1, v2, v3);
	SLUICE_SIPROUND(v0, v1, v2, v3);
	SLUICE_SIPROUND(v0, v1, v2, v3);
	return v0 ^ v1 ^ v2 ^ v3;
}

/*
 * The flow hash: SipHash-1-3 under the seed of the key's canonical bytes.
 *  - IPv4: 16 bytes: src[0..3] dst[0..3] sport dport proto family pad[2]
 *    (the 24 always-zero address bytes are left out: two message words
 *    instead of five, a third less work for the common case);
 *  - IPv6: the whole 40-byte key.
 * Returns a 64-bit value; callers derive every other choice from it.
 */
static inline uint64_t sluice_flow_hash(const struct sluice_flow_key *key,
					const struct sluice_hash_seed *seed)
{
	const uint8_t *bytes = (const uint8_t *)key;
	uint64_t m[5];

	if (key->family == SLUICE_AF_INET) {
		m[0] = (sluice_load_le64(bytes) & 0xffffffffULL) |
		       (sluice_load_le64(bytes + 16) << 32);
		m[1] = sluice_load_le64(bytes + 32);
		return sluice_siphash13_words(m, 2, 16, seed);
	}
	m[0] = sluice_load_le64(bytes);
	m[1] = sluice_load_le64(bytes + 8);
	m[2] = sluice_load_le64(bytes + 16);
	m[3] = sluice_load_le64(bytes + 24);
	m[4] = sluice_load_le64(bytes + 32);
	return sluice_siphash13_words(m, 5, 40, seed);
}

/*
 * A 64-bit finaliser (the MurmurHash3 fmix64 constants). Used to derive
 * independent sub-hashes (one per pool) from an already-keyed SipHash value:
 * the input is secret, so a fast bijective mixer is enough here.
 */
static inline uint64_t sluice_mix64(uint64_t x)
{
	x ^= x >> 33;
	x *= 0xff51afd7ed558ccdULL;
	x ^= x >> 33;
	x *= 0xc4ceb9fe1a85ec53ULL;
	x ^= x >> 33;
	return x;
}

/*
 * Maps a 64-bit hash onto [0, n) without a division (Lemire's multiply-shift),
 * using the high 32 bits of the hash. n must be below 2^32.
 */
static inline uint32_t sluice_hash_to_range(uint64_t hash, uint32_t n)
{
	return (uint32_t)(((hash >> 32) * (uint64_t)n) >> 32);
}

/* The keys hashed for the version-pool split (enum values are wire-stable). */
enum sluice_affinity {
	SLUICE_AFFINITY_FLOW = 0,          /* full 5-tuple: every connection anew */
	SLUICE_AFFINITY_CLIENT_ADDR = 1,   /* client address only */
	SLUICE_AFFINITY_CLIENT_PREFIX = 2, /* client address masked to a prefix */
};

/*
 * Builds the key hashed for the split and the in-pool backend choice from a
 * packet's flow key. For client affinities only the client address (masked
 * to prefix_len bits for CLIENT_PREFIX) and the family remain, so every
 * connection of a client picks the same pool and the same backend.
 */
static inline void sluice_affinity_key(const struct sluice_flow_key *flow,
				       uint8_t affinity, uint8_t prefix_len,
				       struct sluice_flow_key *out)
{
	int i;

	if (affinity == SLUICE_AFFINITY_FLOW) {
		*out = *flow;
		return;
	}
	for (i = 0; i < 16; i++) {
		uint8_t keep = 0xff;

		if (affinity == SLUICE_AFFINITY_CLIENT_PREFIX) {
			int bits = (int)prefix_len - 8 * i;

			if (bits <= 0)
				keep = 0;
			else if (bits < 8)
				keep = (uint8_t)(0xff << (8 - bits));
		}
		out->src[i] = flow->src[i] & keep;
		out->dst[i] = 0;
	}
	out->sport = 0;
	out->dport = 0;
	out->proto = 0;
	out->family = flow->family;
	out->pad[0] = 0;
	out->pad[1] = 0;
}

#ifdef __cplusplus
}
#endif
