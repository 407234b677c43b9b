// Package bench is packetbench's library: load scenarios against a packetd
// server over TCP, TLS and UDP (command cmd/packetbench), and the measurement and
// reports they share.
//
// # Measurement
//
// Every measured message carries a Payload (AppendPayload, ParsePayload) at
// the start of its `data` bin: publisher index, sequence number, send time
// and run id. A receiver classifies each message with the Flow of its
// publisher (delivered, duplicate, out of order, RFC 3550 jitter) and
// counts its latency; a Recorder merges the counts into an HdrHistogram (1
// ns to 60 s, 3 significant figures) of the run and one per interval. Loss
// is computed at the end, from the deliveries the publishers expected
// (Recorder.Expect).
//
// # Concurrency
//
// A Recorder is safe for concurrent use. Each receiver goroutine owns a
// Local (Recorder.NewLocal), which keeps its Flows and its latency counts
// (hdrhistogram's layout, in 1 KiB pages allocated as latencies reach
// them) to itself: per message, Local.Observe touches no shared memory,
// makes no atomic operation and allocates nothing (apart from a
// publisher's first message and a latency range's first). A Local hands
// its counts to the Recorder when its receiver moves into the next
// interval; the Recorder takes the rest at interval boundaries
// (Recorder.Tick, driven by Recorder.RunProgress) and at the end. For
// that, a Local has a lock, which the receiver takes once per read
// (Local.Begin and Local.End around the read's messages); Observe takes it
// itself outside such a batch. The report writers are pure functions of
// their arguments.
//
// A run, per transport:
//
//	rec := bench.NewRecorder(bench.RecorderConfig{Transport: "udp", Size: size, ...})
//	go rec.RunProgress(ctx, os.Stderr)      // interval lines, until cancelled
//	// each receiver goroutine:
//	l := rec.NewLocal()
//	defer l.Close()
//	now := time.Now().UnixNano()            // once per read
//	l.Begin()
//	for _, msg := range read {
//		if p, ok := bench.ParsePayload(msg.Data); ok {
//			l.Observe(p, now, size)     // per message
//		}
//	}
//	l.End()
//	// publishers: rec.AddSent(n, n*size); at the end rec.Expect(expected)
//	rec.Finish(end)                         // after the receivers stop
//	res := rec.Result()                     // then set res.Server
//
// # Outputs
//
// WriteText prints the summary table (one column per transport), WriteCSV
// one row per transport, WriteJSON the Document below, WriteHTML a
// self-contained report with inline SVG charts (WriteSVGCDF and
// WriteSVGThroughput write the charts alone), and WriteProgress the
// iperf3-like interval lines:
//
//	[tcp]  3.00-4.00 s  1.23 M msg/s  630 Mbit/s  p99 0.81 ms  lost 0
//
// # JSON schema
//
// The document written by --json; names follow iperf3's where iperf3 has
// the field. Bytes are payload bytes (the `data` bin, -s); received rates
// are over duration_s, sent rates over send_time_s; latencies are
// microseconds. A delivery is the first copy of
// a measured message (sent after the warmup, by this run) at one receiver;
// a receiver takes its receive time once per read.
//
//	{
//	  "packetbench": {
//	    "version": string,
//	    "start":   string,          // RFC 3339 time the run started
//	    "args":    [string],        // command line
//	    "host":    {"cpus": int, "os": "linux/amd64", "go": "go1.26.0"}
//	  },
//	  "results": [{                 // one per transport, in run order
//	    "transport":   "tcp" | "tls" | "udp",  // tls: TCP sessions over crypto/tls
//	    "scenario":    "fanout" | "rtt" | "ingest" | "conns",
//	    "qos":         0 | 1,
//	    "size":        int,         // payload bytes per message (-s)
//	    "clients":     int,         // -c
//	    "publishers":  int,         // sending sessions: fanout -p, rtt and
//	                                // ingest -c, conns 0
//	    "subscribers": int,         // measuring sessions: fanout -c, rtt -c,
//	                                // ingest --sinks, conns 0
//	    "duration_s":  float,       // from the end of the warmup to the last
//	                                // delivery, or to the end of sending if
//	                                // later: the rates include draining what
//	                                // was queued; conns: the time the
//	                                // sessions took to open
//	    "send_time_s": float,       // from the end of the warmup to the end
//	                                // of sending: -t (later if a fixed -r
//	                                // sent late), the last message with -n,
//	                                // the interruption; conns: duration_s
//	    "sent":     {"packets": int, "bytes": int,     // measured messages,
//	                 "packets_per_second": float,      // resends not counted
//	                 "bits_per_second": float},        // (conns: sessions opened)
//	    "received": {...same...},   // deliveries, summed over receivers
//	                                // (rtt: echoes; conns: sessions opened)
//	    "lost_packets": int,        // expected - delivered (>= 0); expected:
//	                                // every measured message of each sender
//	                                // a receiver hears (fanout: each
//	                                // subscriber every publisher's; rtt: each
//	                                // client its own; ingest: each sink every
//	                                // device's); conns: sessions not opened
//	    "lost_percent": float,      // of expected, 0-100
//	    "duplicates":   int,        // copies of a message already delivered
//	                                // (within its flow's last 65,536
//	                                // sequence numbers)
//	    "out_of_order": int,        // deliveries below the highest sequence
//	                                // number of their flow then
//	    "jitter_ms":    float,      // RFC 3550 interarrival jitter of each
//	                                // (receiver, publisher) flow, mean over
//	                                // the flows of 2 deliveries or more;
//	                                // near 0 when flooding (messages sent
//	                                // together share a send time, and read
//	                                // together a receive time)
//	    "latency_us": {"min", "mean", "p50", "p90", "p99", "p99_9", "max": float,
//	                   "count": int},   // one-way, receive - send time (rtt:
//	                                // round trip; conns: the handshake, HELLO
//	                                // to WELCOME and over UDP the PING that
//	                                // validates the address); at a
//	                                // fixed -r, a sender held up stamps the
//	                                // time it was due to send; HdrHistogram,
//	                                // 3 significant figures; count: the
//	                                // deliveries
//	    "latency_cdf": [{"us": float, "percent": float}],  // omitted if empty
//	    "retransmits": int,         // QoS 1 resends: the publishers' EMITs
//	                                // plus the spawned server's MESSAGE
//	                                // retransmissions (timer or resumed
//	                                // session; not known for --server),
//	                                // warmup and drain included
//	    "reads": int,               // receivers' reads (read or recvmsg)
//	                                // that delivered a measured message:
//	                                // received.packets / reads is the
//	                                // messages per read (TCP: many, a
//	                                // stream; UDP: 1, more with --udp-gro;
//	                                // TLS: reads of the plaintext)
//	    "split_reads": int,         // TCP and TLS reads that ended inside
//	                                // a frame (its rest came with a later
//	                                // read)
//	    "server": {"cpu_seconds": float,   // user + system, from the end of
//	                                // the warmup to the end of the drain
//	                                // (conns: opening and holding); 0: unknown
//	               "peak_rss_bytes": int,  // VmHWM, reset at the same start
//	               "rss_per_session_bytes": int,         // conns; 0: unknown
//	               "rss_before_bytes": int, "rss_after_bytes": int,
//	               "sessions": int},                     // conns only
//	    "intervals": [{"start": float, "end": float,     // seconds from the
//	                                                     // end of the warmup
//	                   "sent_packets": int,     // sent since the interval
//	                                            // before closed, read as this
//	                                            // one closed (a little after
//	                                            // its end)
//	                   "received_packets": int, // deliveries received in it
//	                   "lost_packets": int,     // the losses its deliveries
//	                                            // revealed (sequence gaps,
//	                                            // less late arrivals that
//	                                            // filled one: can be < 0);
//	                                            // the last interval adds what
//	                                            // only the end shows (a
//	                                            // flow's tail, a receiver
//	                                            // that heard nothing), so
//	                                            // the intervals add up to
//	                                            // lost_packets
//	                   "bits_per_second": float,         // received
//	                   "p50_us": float, "p99_us": float}],  // 0: no sample
//	    "impairment": {"loss_percent", "delay_ms", "jitter_ms",
//	                   "reorder_percent", "duplicate_percent",
//	                   "rate_bits_per_second": float, "seed": int,
//	                   "packets": int, "dropped": int}
//	                                // only when an impairment proxy was
//	                                // used: what it applied to this
//	                                // transport, in each direction (TCP:
//	                                // loss, delay, jitter and rate; the
//	                                // loss is the kernel's, not replayed
//	                                // by the seed); packets and dropped:
//	                                // what it saw and dropped while
//	                                // impairing, both ways (UDP:
//	                                // datagrams, lost to --loss or to the
//	                                // --rate queue; TCP with loss: IP packets
//	                                // on loopback, each up to 64 KiB of
//	                                // segments; else 0)
//	  }]
//	}
//
// Beyond DESIGN.md's schema: send_time_s, reads, split_reads, the
// intervals' lost_packets,
// latency_cdf (the HTML report's data, so that `packetbench report`
// renders a saved document again), the conns fields of server, and the
// impairment object's fields.
package bench
