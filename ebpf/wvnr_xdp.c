// SPDX-License-Identifier: GPL-2.0 OR MIT
//
// wvnr's XDP program: redirects UDP datagrams for the collector's ports into
// the AF_XDP socket of the receive queue they arrived on, and passes
// everything else to the kernel untouched, so the normal socket path keeps
// running beside it:
//   - IPv4 fragments (MF set or a fragment offset) and IPv6 packets with any
//     extension header (the fragment header included): the kernel reassembles
//     them and the collector's UDP sockets read them;
//   - anything that is not Ethernet (+ up to two VLAN tags) / IPv4 or IPv6 /
//     UDP, anything truncated or malformed, other ports, other destination
//     addresses, frames longer than an AF_XDP frame holds;
//   - packets on a queue with no AF_XDP socket (bpf_redirect_map's fallback).
// Userspace (src/ingest/xdp*.rs) fills `ports`, `settings` and `xsks`.

#include <linux/bpf.h>
#include <linux/if_ether.h>
#include <linux/in.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/udp.h>
#include <bpf/bpf_endian.h>
#include <bpf/bpf_helpers.h>

#define MAX_QUEUES 256
#define MAX_PORTS 64

// settings.flags
#define ACCEPT_V4 1u      // IPv4 datagrams are the collector's
#define ACCEPT_V6 2u      // IPv6 datagrams are the collector's
#define MATCH_V4_ADDR 4u  // ... only when sent to settings.v4
#define MATCH_V6_ADDR 8u  // ... only when sent to settings.v6

struct settings {
	__u32 flags;
	__u32 v4;         // network byte order
	__u8 v6[16];
	__u32 max_frame;  // longest frame the AF_XDP socket takes; longer ones go to the kernel
};

struct {
	__uint(type, BPF_MAP_TYPE_XSKMAP);
	__uint(max_entries, MAX_QUEUES);
	__type(key, __u32);
	__type(value, __u32);
} xsks SEC(".maps");

// Collector UDP ports (host byte order) -> 1.
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, MAX_PORTS);
	__type(key, __u16);
	__type(value, __u8);
} ports SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct settings);
} settings SEC(".maps");

struct vlan_hdr {
	__be16 tci;
	__be16 proto;
};

static __always_inline int v6_equal(const __u8 *a, const __u8 *b)
{
#pragma unroll
	for (int i = 0; i < 16; i++)
		if (a[i] != b[i])
			return 0;
	return 1;
}

SEC("xdp")
int wvnr_xdp(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 zero = 0;
	struct settings *cfg = bpf_map_lookup_elem(&settings, &zero);
	if (!cfg)
		return XDP_PASS;
	if (data_end - data > cfg->max_frame)
		return XDP_PASS;

	struct ethhdr *eth = data;
	if ((void *)(eth + 1) > data_end)
		return XDP_PASS;
	__u16 proto = bpf_ntohs(eth->h_proto);
	void *l3 = eth + 1;

#pragma unroll
	for (int i = 0; i < 2; i++) {
		if (proto != ETH_P_8021Q && proto != ETH_P_8021AD)
			break;
		struct vlan_hdr *vlan = l3;
		if ((void *)(vlan + 1) > data_end)
			return XDP_PASS;
		proto = bpf_ntohs(vlan->proto);
		l3 = vlan + 1;
	}

	struct udphdr *udp;
	if (proto == ETH_P_IP) {
		if (!(cfg->flags & ACCEPT_V4))
			return XDP_PASS;
		struct iphdr *ip = l3;
		if ((void *)(ip + 1) > data_end)
			return XDP_PASS;
		if (ip->version != 4 || ip->ihl < 5 || ip->protocol != IPPROTO_UDP)
			return XDP_PASS;
		// More-fragments flag or a fragment offset: the kernel reassembles it.
		if (ip->frag_off & bpf_htons(0x3fff))
			return XDP_PASS;
		if ((cfg->flags & MATCH_V4_ADDR) && ip->daddr != cfg->v4)
			return XDP_PASS;
		udp = l3 + ip->ihl * 4;
	} else if (proto == ETH_P_IPV6) {
		if (!(cfg->flags & ACCEPT_V6))
			return XDP_PASS;
		struct ipv6hdr *ip6 = l3;
		if ((void *)(ip6 + 1) > data_end)
			return XDP_PASS;
		// Extension headers (fragments among them) are left to the kernel.
		if (ip6->version != 6 || ip6->nexthdr != IPPROTO_UDP)
			return XDP_PASS;
		if ((cfg->flags & MATCH_V6_ADDR) && !v6_equal(ip6->daddr.in6_u.u6_addr8, cfg->v6))
			return XDP_PASS;
		udp = (void *)(ip6 + 1);
	} else {
		return XDP_PASS;
	}
	if ((void *)(udp + 1) > data_end)
		return XDP_PASS;
	__u16 port = bpf_ntohs(udp->dest);
	if (!bpf_map_lookup_elem(&ports, &port))
		return XDP_PASS;
	// No socket on this queue: XDP_PASS (the low bits of flags are the fallback action).
	return bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_PASS);
}

char _license[] SEC("license") = "Dual MIT/GPL";
