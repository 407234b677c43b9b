// Package stats holds packetd's counters: what came in, what went out, and
// everything that was refused, dropped or timed out, each with a reason.
// The fields are atomic and safe for concurrent use; hot paths add to them
// without locks.
package stats

import (
	"reflect"
	"sync"
	"sync/atomic"
)

// Stats is the server's set of counters. The zero value is ready to use.
type Stats struct {
	// Sessions and connections.
	TCPConns          atomic.Int64  // TCP connections open now
	UDPSessions       atomic.Int64  // UDP sessions alive now
	SessionsOpened    atomic.Uint64 // HELLOs answered with WELCOME
	SessionsRefused   atomic.Uint64 // HELLOs or connections refused: server full
	HandshakeTimeouts atomic.Uint64 // TCP connections closed for sending no HELLO in time
	IdleTimeouts      atomic.Uint64 // sessions ended for silence (1.5 keepalives)
	ProtocolErrors    atomic.Uint64 // TCP connections closed for malformed or unexpected input
	AcceptErrors      atomic.Uint64 // failed accepts (EMFILE and the like), each followed by a pause
	TLSConns          atomic.Int64  // TLS connections handed to the TCP transport and open now (also in TCPConns)
	TLSHandshakeFails atomic.Uint64 // TLS handshakes failed: not TLS, no common version or cipher, a protocol error
	TLSBadClientCerts atomic.Uint64 // TLS handshakes failed for the client certificate (mTLS): missing, unknown CA, expired
	TLSHandshakeSlow  atomic.Uint64 // TLS connections closed for not finishing the handshake within -handshake-timeout

	// Input.
	FramesIn          atomic.Uint64 // TCP packets received
	DatagramsIn       atomic.Uint64 // UDP datagrams received
	DatagramMalformed atomic.Uint64 // datagrams dropped: prefix, header or body invalid
	DatagramOversize  atomic.Uint64 // datagrams dropped: larger than the limit
	DatagramNoSession atomic.Uint64 // datagrams for an unknown or expired session
	HelloTooSmall     atomic.Uint64 // UDP HELLOs dropped for being under the minimum size
	HelloPendingFull  atomic.Uint64 // UDP HELLOs dropped: too many sessions awaiting validation
	Emits             atomic.Uint64 // EMITs broadcast
	Recipients        atomic.Uint64 // recipients those EMITs were addressed to
	RequestErrors     atomic.Uint64 // requests answered with a non-fatal ERROR

	// Output.
	DatagramsSent      atomic.Uint64 // datagrams the kernel accepted
	DatagramsDropped   atomic.Uint64 // datagrams the kernel refused (socket buffer full)
	GSOSegments        atomic.Uint64 // datagrams sent in a GSO run: several to one peer in one send (UDP_SEGMENT)
	UDPRecvDrops       atomic.Uint64 // datagrams the kernel dropped at packetd's full receive sockets (SO_MEMINFO), sampled each tick
	DropSlowConsumer   atomic.Uint64 // messages dropped: TCP recipient's outbound buffer full
	DropAmplification  atomic.Uint64 // datagrams not sent: unvalidated address, 3x budget spent
	DropTooLargeForUDP atomic.Uint64 // messages not sent to UDP recipients: over the datagram limit
	DropInboxFull      atomic.Uint64 // deliveries dropped: an event loop's inbox was full
	PathChallenges     atomic.Uint64 // UDP address changes that started a validation

	// QoS 1 delivery and persistence.
	QoS1Emits        atomic.Uint64 // QoS 1 EMITs broadcast
	DupPublishes     atomic.Uint64 // QoS 1 EMITs received again (same id) and not broadcast again
	HeldEmits        atomic.Uint64 // QoS 1 EMITs that arrived before an earlier one and waited for it
	DroppedEmits     atomic.Uint64 // QoS 1 EMITs too far ahead to hold (the client resends them)
	Acked            atomic.Uint64 // QoS 1 MESSAGEs acknowledged by their recipients
	Retransmits      atomic.Uint64 // QoS 1 MESSAGEs sent again (timer, or a resumed session)
	QueueDrops       atomic.Uint64 // QoS 1 messages lost to a session queue's limits (overflow or age)
	DeliveryTimeouts atomic.Uint64 // UDP peers given up on: a message unacknowledged after every retry
	SessionsResumed  atomic.Uint64 // persistent sessions resumed by a HELLO
	SessionsExpired  atomic.Uint64 // persistent sessions ended by their expiry
	StoreBatches     atomic.Uint64 // batches handed to the store
	StoreErrors      atomic.Uint64 // batches the store failed to write

	// Authentication and permissions.
	AuthOK            atomic.Uint64 // HELLOs authenticated with credentials (password, token, certificate)
	AuthFailures      atomic.Uint64 // HELLOs refused: not authorized (ERROR 308)
	AuthRateLimited   atomic.Uint64 // HELLOs refused unchecked: too many failed authentications from the address (ERROR 309)
	HelloRateLimited  atomic.Uint64 // HELLOs refused: too many HELLOs from the address (ERROR 309)
	PermissionDenied  atomic.Uint64 // JOINs and EMITs refused by the session's permissions (ERROR 207)
	TokenExpiries     atomic.Uint64 // connections ended because the token that opened their session expired (BYE 308)
	RateLimited       atomic.Uint64 // TCP sessions ended for sending beyond -session-packet-rate or -session-byte-rate (ERROR 310)
	RateLimitedDrops  atomic.Uint64 // UDP datagrams dropped for the same reason (the session goes on)
	RoomFull          atomic.Uint64 // JOINs refused because a room held -max-room-members (ERROR 208)
	ConnsPerIPRefused atomic.Uint64 // TCP and TLS connections refused because their address had -max-conns-per-ip open (TCP: ERROR 309)
	AuthThrottled     atomic.Uint64 // HELLOs refused unchecked: the server-wide budget of password checks was spent (ERROR 309)

	// Operations.
	AdminDisconnects atomic.Uint64 // sessions ended through the admin API (BYE 307)

	// Latencies (internal/metrics exports them as histograms).
	AckLatency       Histogram // a QoS 1 MESSAGE sent once until its ACK (retransmitted ones are ambiguous: Karn)
	StoreCommit      Histogram // a pass's writes handed to the store until durable: what a QoS 1 ACK waits for
	StoreTransaction Histogram // one store write transaction, fsync included (bbolt)

	trafficMu sync.Mutex // guards traffic
	traffic   []*Traffic // by goroutine; see NewTraffic
}

// Snapshot returns every counter by field name.
func (s *Stats) Snapshot() map[string]int64 {
	out := make(map[string]int64)
	v := reflect.ValueOf(s).Elem()
	for i := range v.NumField() {
		if !v.Type().Field(i).IsExported() {
			continue
		}
		switch c := v.Field(i).Addr().Interface().(type) {
		case *atomic.Uint64:
			out[v.Type().Field(i).Name] = int64(c.Load())
		case *atomic.Int64:
			out[v.Type().Field(i).Name] = c.Load()
		}
	}
	return out
}
