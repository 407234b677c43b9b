// Package impair is a user-space network impairment proxy for UDP and TCP.
// It sits between clients and a server and impairs what they exchange,
// independently in each direction and deterministically from a seed. UDP
// injects loss, duplication, reordering, delay, jitter and a bandwidth cap
// into datagrams. TCP adds delay, jitter and a bandwidth cap to byte
// streams, and pushes back on fast senders, but cannot lose, duplicate or
// reorder (see "TCP" below). packetd's delivery tests use it to check QoS 1
// over a lossy path, and packetbench to compare TCP and UDP under
// impairment. The proxies need no root and no kernel support. For TCP
// under loss, KernelLoss drops a port's segments on loopback inside the
// kernel, with an nftables rule (Linux, root).
//
// # UDP
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
// # TCP
//
// A TCP proxy accepts connections and relays each over its own connection
// to the server, so the server sees the proxy's address and one source
// port per client. Each direction of a connection (a stream) takes the
// bytes in chunks, a chunk being what one read returned (at most 32 KiB),
// and gives each chunk a due time:
//
//	Rate       serialize it on a link of Rate bytes/s, after the chunks
//	           ahead of it
//	Delay      add Delay, plus a uniform draw in [0, Jitter)
//	order      but never before the chunk ahead of it
//
// A chunk is written whole at its due time. Since TCP delivers bytes in
// order whatever the network does, a chunk that drew less jitter than the
// one ahead of it waits for it and leaves with it: on a stream, jitter
// shows as delay variation and bursts, never as reordering. The sender's
// FIN (CloseWrite, or close) queues behind its bytes and is forwarded with
// CloseWrite when due, so half-closed connections work. A reset (a read
// that fails) queues behind the bytes the same way, and resets both sides
// when due; a write that fails because the receiver has gone resets both
// sides at once, dropping what is queued.
// Connections are never forgotten while open, however long they are idle;
// MaxConns bounds them.
//
// Everything a stream holds counts against its QueueLimit, in bytes. When
// it is full the proxy stops reading from the sender, and drops nothing:
// the proxy's receive buffer fills, the TCP window closes, and the
// sender's writes block (backpressure, TCP's flow control). A blocked
// sender has handed over QueueLimit plus what the kernel buffers on the
// way (its send buffer, the proxy's receive and send buffers, the
// receiver's receive buffer: megabytes on Linux, which grows them, unless
// SocketBuffer bounds the proxy's). Delayed bytes count too, so a stream
// carries at most QueueLimit bytes per Delay, as a TCP window of that size
// would over a path that long. With Rate, a sender faster than the link
// fills the queue, which adds QueueLimit/Rate of queueing delay as a deep
// router buffer does (bufferbloat); a shallow QueueLimit keeps the delay
// low and pushes back sooner.
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
// A TCP stream draws one number per chunk, its FIN included, from its own
// PCG generator, seeded from TCPOptions.Seed, the connection's index
// (connections are numbered 0, 1, ... in order of acceptance) and the
// direction, so the n-th chunk of a connection's direction draws the same
// jitter in every run with the same seed, whatever the Config. Which bytes
// form the n-th chunk is not deterministic: it depends on how the kernel
// hands the bytes to the proxy's reads, that is on timing. Rate and Delay
// are exact functions of the times at which chunks are read.
//
// # Compared with netem
//
// netem impairs packets inside the kernel, on an interface, for every
// protocol. This proxy impairs UDP datagrams and TCP byte streams in user
// space:
//
//   - It adds a hop: the server sees the proxy's address, not the client's,
//     and each datagram costs two socket operations and a little CPU (the
//     clean path allocates nothing; see the benchmarks).
//   - Delay is scheduled on the wall clock by one goroutine per UDP proxy
//     (per TCP stream, its writer), with Go timer precision: a datagram or
//     chunk is never sent before its due time, but may be sent up to about
//     a millisecond after it (Go's timers wait in whole milliseconds on
//     Linux; more under CPU load), so delays under a few milliseconds are
//     coarse, and a high Rate is met on average over milliseconds, in small
//     bursts.
//   - Rate and QueueLimit count UDP payload bytes, not IP and UDP headers.
//   - Datagrams are forwarded whole: there is no MTU, fragmentation or
//     corruption, and ICMP errors from the server reach the proxy, not the
//     client.
//   - A TCP proxy ends each client's TCP connection and opens its own to
//     the server, so each TCP sees a round trip of microseconds to the
//     proxy: the sender's window and congestion control never see the
//     Delay, which the proxy adds between the two connections, and the
//     sender is held back by the proxy's QueueLimit instead (a queue, not
//     a window). Rate and QueueLimit count stream bytes, not segments or
//     headers, and the delay applies to chunks as read, not to packets.
//
// For teaching layer 4 it shows what UDP leaves to the application: loss,
// duplication and reordering arrive as they are, so a protocol must number,
// acknowledge and retransmit (packetd's QoS 1); delay and jitter set its
// timers; a Rate with a deep QueueLimit shows queueing delay growing under
// load (bufferbloat) and a shallow one shows tail drop; Rebind shows why a
// UDP session cannot be keyed by source address.
//
// On TCP it shows what a stream does with delay and a narrow link: round
// trips grow by the delay, throughput is capped by Rate and by QueueLimit
// per Delay, a full queue pushes back on the sender instead of dropping,
// and jitter never reorders bytes. It cannot show TCP under loss. A
// user-space proxy sees a TCP stream only after the kernel has
// acknowledged, retransmitted and reordered its segments; it cannot drop a
// segment, only bytes of the stream, which would corrupt it rather than
// model a loss that TCP repairs. So TCP's retransmission timeouts, the
// head-of-line blocking of the bytes behind a lost segment, and congestion
// control's response to loss need loss in the kernel: KernelLoss, netem
// (such as "tc qdisc add dev lo root netem loss 1%") or a lossy network.
// packetd's docs therefore show TCP under loss through KernelLoss, and UDP
// under loss through the proxy, where the application sees every lost
// datagram and numbers, acknowledges and retransmits for itself.
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
//
// A TCP proxy is safe for concurrent use. It runs one goroutine accepting
// connections and four per connection: a reader and a writer for each
// direction (the first of them dials the server). A connection's
// goroutines exit once both FINs have been forwarded, once either side
// resets or a write fails, or on Close, which resets every connection and
// waits for all of them. No goroutine is started per chunk, and every
// queue is bounded: QueueLimit bytes in at most max(64, QueueLimit/256)
// chunks per stream, and MaxConns connections. Memory is about 64 KiB per
// connection (a 32 KiB read buffer per direction, held while the reader
// waits for bytes) plus what the queues hold; a chunk on the steady path
// allocates nothing.
package impair
