// Package impair is a user-space network impairment proxy for UDP. It sits
// between UDP clients and a UDP server and injects loss, duplication,
// reordering, delay, jitter and a bandwidth cap, independently in each
// direction and deterministically from a seed. packetd's delivery tests use
// it to check QoS 1 over a lossy path, and packetbench to compare TCP and UDP
// under impairment. It needs no root and no kernel support.
//
// # Model
//
// Clients send to the proxy's address. Each distinct client address is a
// flow: the proxy opens an upstream socket for it, connected to the server,
// so the server sees one source port per client, as through a NAT, and sends
// its replies back through the flow. Rebind gives a flow a new upstream
// socket (a NAT rebinding); a flow that carries nothing for IdleTimeout is
// forgotten (a NAT mapping timing out).
//
// Each direction of a flow (a path) applies, to each datagram in turn:
//
//	Loss       drop it
//	Duplicate  send it twice; the copy follows it through the later stages
//	Reorder    hold it until ReorderGap later datagrams have passed it
//	           (or ReorderTimeout has passed), then send it
//	Rate       serialize it on a link of Rate bytes/s, after the datagrams
//	           ahead of it
//	Delay      add Delay, plus a uniform draw in [0, Jitter)
//
// Everything a path holds (Reorder, Rate, Delay, Jitter) counts against its
// QueueLimit in bytes; a datagram that would exceed it is dropped. Without
// Jitter a path is first in, first out apart from Reorder; with Jitter a
// datagram overtakes earlier ones that drew a longer delay, as with netem.
// Stats counts every outcome per direction.
//
// # Determinism
//
// Every random decision for a path comes from its own PCG generator, seeded
// from Options.Seed, the flow's index (flows are numbered 0, 1, ... in order
// of first appearance, Rebind keeps the index, and a flow forgotten and seen
// again gets a new one) and the direction. Each datagram takes five draws
// whatever the outcome, so the n-th datagram of a path gets the same loss,
// duplicate, reorder and jitter decisions in every run with the same seed
// and Config: a test with one client and a fixed seed sees the same
// datagrams dropped every time. With a fixed seed, raising Loss only adds
// drops (the datagrams lost at 0.1 are among those lost at 0.2), and
// changing one stage's probability does not move another stage's decisions.
//
// Not deterministic: wall-clock timing (when the scheduler wakes, so the
// exact send times, and whether a datagram sent while another is delayed is
// queued behind it); which datagrams Rate and QueueLimit drop, which depends
// on arrival times; a held datagram's release by ReorderTimeout rather than
// by a later datagram; the interleaving of different flows and directions;
// flow indexes when several clients start at once; and the point in a
// stream at which SetOptions takes effect.
//
// # Compared with netem
//
// netem impairs packets inside the kernel, on an interface, for every
// protocol. This proxy impairs datagrams in user space, for UDP only:
//
//   - It adds a hop: the server sees the proxy's address, not the client's,
//     and each datagram costs two socket operations and a little CPU (the
//     clean path allocates nothing; see the benchmarks).
//   - Delay is scheduled on the wall clock by one goroutine per proxy, with
//     Go timer precision: a datagram is never sent before its due time, but
//     may be sent up to about a millisecond after it (Go's timers wait in
//     whole milliseconds on Linux; more under CPU load), so delays under a
//     few milliseconds are coarse, and a high Rate is met on average over
//     milliseconds, in small bursts.
//   - Rate and QueueLimit count UDP payload bytes, not IP and UDP headers.
//   - Datagrams are forwarded whole: there is no MTU, fragmentation or
//     corruption, and ICMP errors from the server reach the proxy, not the
//     client.
//
// For teaching layer 4 it shows what UDP leaves to the application: loss,
// duplication and reordering arrive as they are, so a protocol must number,
// acknowledge and retransmit (packetd's QoS 1); delay and jitter set its
// timers; a Rate with a deep QueueLimit shows queueing delay growing under
// load (bufferbloat) and a shallow one shows tail drop; Rebind shows why a
// UDP session cannot be keyed by source address. It cannot impair TCP: a
// user-space proxy sees a TCP byte stream only after the kernel has
// retransmitted and reordered it, so TCP's retransmission, head-of-line
// blocking and congestion control under loss need netem or a lossy network.
//
// # Concurrency
//
// A UDP proxy is safe for concurrent use. It runs one goroutine reading
// clients, one per flow reading the server, one scheduler, and one that
// forgets idle flows; Close closes every socket, drops what is queued and
// waits for all of them. No goroutine is started per datagram, and every
// queue is bounded: QueueLimit per path, MaxFlows flows. Memory is about
// MaxDatagram per flow (each flow's reader has its own buffer) plus what
// the queues hold; lower MaxDatagram to run thousands of flows.
package impair
