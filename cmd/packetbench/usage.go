package main

// usageText is `packetbench --help`.
const usageText = `packetbench load-tests a packetd server over TCP, TLS, UDP, or several
side by side, and shows with numbers how the transports differ.

Usage:
  packetbench [flags] fanout|rtt|ingest|conns [flags]
  packetbench impair [flags]          run the impairment proxy on its own
  packetbench report FILE.json [flags]  render a saved --json run again
  packetbench help SCENARIO           what a scenario measures, with examples

Scenarios:
  fanout   -p publishers send to a room of -c subscribers (deliveries/s, loss)
  rtt      -c clients send to themselves through the server (round trip)
  ingest   -c devices send at -r msg/s each to a room -sinks subscribers read
  conns    open -c idle sessions and hold them (server memory per session)

By default packetbench starts its own packetd (a child process on 127.0.0.1
random ports, in-memory store), one per transport, so that the server's CPU
time and memory are measured alone; --server ADDR loads one already running.
Every run stops by itself: after -t (default 10s) or -n messages per sender.
Ctrl-C stops early and reports what was measured. A flag that does not
apply to the scenario (-p outside fanout, --window without --qos 1, -s for
conns ...) is an error, not ignored.

Examples:
  packetbench fanout -c 100 -t 5s                 flood 100 TCP subscribers
  packetbench fanout -c 1000 --transport tcp,udp  TCP and UDP side by side
  packetbench fanout -c 100 --transport tcp,tls,udp   TLS beside TCP and UDP
  packetbench fanout -c 100 -r 2000 --transport tcp,udp   latency at 2,000 msg/s
  packetbench rtt -r 10k                          round trips at 10,000 msg/s
  packetbench rtt --transport udp --loss 5% --qos 1       QoS 1 over a lossy path
  packetbench ingest -c 1000 -r 100 --transport udp       1,000 devices at 100 msg/s
  packetbench conns -c 10000                      memory per idle session
  packetbench fanout -c 100 --qos 1 --persist     QoS 1 to persistent sessions, on disk
  packetbench fanout --server 127.0.0.1:7070 --server-pid $(pidof packetd)
  packetbench rtt --transport tcp,tls --server 127.0.0.1:7070 \
      --tls-server localhost:7443 --tls-ca ca.pem    a running packetd's TLS
  packetbench fanout -c 100 -J result.json --report report.html

Load:
  -c N                 clients: fanout subscribers (10), rtt clients (1),
                       ingest devices (100), conns sessions (1000)
  -p N                 fanout publishers (1)
  --sinks N            ingest subscribers (1)
  -n N                 measured messages per sender, then stop (default: by -t)
  -t DURATION          measured time (10s; with -n, a cap of 5m); 30 = 30s
  -s BYTES             payload size, at least 24 (64)
  -r RATE              messages/s per sender, e.g. 2000 or 10k; 0 = as fast as
                       possible (rtt: closed loop, one message at a time)
                       (ingest default 10)
  --warmup DURATION    traffic before the measurement starts (0)
  --qos 0|1            0 at most once; 1 at least once: the server ACKs each
                       EMIT, subscribers ACK each MESSAGE, UDP retransmits (0)
  --window N           QoS 1 EMITs a publisher keeps unacknowledged (100 over
                       TCP and TLS, 20 over UDP)
  --persist            receivers open persistent sessions: with --qos 1 the
                       server writes their messages to disk before its ACK
                       (a spawned server gets a temporary -data-dir)
  --transport LIST     tcp, tls, udp, or a list run one after the other:
                       tcp,udp or tcp,tls,udp (tcp). tls: TCP sessions over
                       TLS (a spawned server gets a certificate of a CA made
                       for the run, which the clients trust)
  --udp-gro            UDP receivers turn on UDP_GRO and read each of the
                       server's GSO runs at once, not one datagram per read
                       (over loopback this also spares the server's sends
                       the kernel's splitting of the runs; off: as devices)
  --nagle              the clients' TCP (and TLS) sockets keep Nagle's
                       algorithm on (TCP_NODELAY off, as many embedded
                       stacks): a small write waits while an earlier one is
                       unacknowledged

Server:
  --server HOST:PORT   a running packetd (TCP and UDP on that port)
  --tls-server ADDR    its TLS address, HOST:PORT (packetd's -tls-addr), for
                       --transport tls; the certificate is verified for HOST
  --tls-ca FILE        PEM CA certificate(s) that verify --tls-server
                       (default: the system's roots)
  --tls-insecure       do not verify --tls-server's certificate (a note says so)
  --server-pid PID     its process, for CPU time and memory from /proc
  --server-flag FLAG   a packetd flag for the spawned server, repeatable:
                       --server-flag=-tcp-loops=2 --server-flag=-data-dir=/tmp/pd
                       (checked before the server starts; not with --server)
  --allow-remote       allow a --server that is not on this machine

Impairment (a user-space proxy between the measured clients and the server;
fanout: the subscribers, rtt: the clients, both ways, ingest: the devices):
  --loss P             drop packets, 5% or 0.05: UDP datagrams in the proxy;
                       TCP packets in the kernel (root or CAP_NET_ADMIN)
  --duplicate P        duplicate datagrams (UDP only)
  --reorder P          hold datagrams back behind the next one (UDP only)
  --delay DURATION     add delay, each direction (UDP datagrams, TCP bytes)
  --jitter DURATION    add a uniform random delay in [0, jitter)
  --rate BW            bandwidth per connection or flow: 10mbit, 1gbit, 500kbps
  --seed N             the impairment's random seed (random; reported); needs
                       an impairment flag
  TLS goes through the TCP proxy, which relays its bytes as they are; the
  clients still verify the server's certificate.
  A TCP byte stream cannot lose, duplicate or reorder in a user-space proxy
  (the kernel recovers below it): over TCP the proxy applies --delay,
  --jitter and --rate, and --loss installs an nftables rule that drops the
  TCP packets between the clients and the proxy, both ways, in the kernel,
  so that TCP retransmits as over a lossy network (on loopback one packet
  can carry up to 64 KiB of segments; the kernel's draw is not replayed by
  --seed; the rule is removed when the run ends). The proxy is clean while
  the sessions open and join, impaired from then on (conns: from the start,
  the handshakes are what it measures).

Output:
  -i DURATION          progress line interval on stderr (1s)
  -q, --quiet          no progress lines
  -J, --json [FILE]    the results as JSON (stdout, or FILE)
  --csv [FILE]         one CSV row per transport (stdout, or FILE)
  --report FILE.html   a self-contained HTML report: latency CDF, throughput
  --version            print the version
  --cpuprofile FILE    packetbench's own CPU profile (go tool pprof), to check
                       that the load generator is not the bottleneck

Reading the results: "received" counts deliveries (a message to 100
subscribers is 100 deliveries); lost = expected - delivered, where every
subscriber expects every message; latency is one-way (send to delivery), in
rtt the round trip; jitter is RFC 3550's, as iperf3 reports it.

Exit status:
  0     the run completed as asked (loss is a measurement, not a failure)
  1     the run failed (no server, the server did not start, an output file),
        or did not complete as asked: clients stopped before the end (the
        server disconnected them: a note says why), messages -r scheduled
        were not sent, or the spawned server failed on its way out; the
        report is printed first
  2     a bad command line or configuration; nothing ran
  130   interrupted by Ctrl-C (SIGINT), 143 by SIGTERM, after the report of
        what was measured
`

// scenarioHelp is `packetbench help SCENARIO` and `packetbench SCENARIO
// --help`.
var scenarioHelp = map[string]string{
	"fanout": `packetbench fanout: -p publishers (1) send to a room of -c subscribers (10).

Every subscriber expects every message of every publisher: "received" counts
deliveries, and lost = sent x subscribers - delivered. Without -r the
publishers send as fast as the server takes them (TCP flow control; over UDP
whatever the socket buffers hold), which measures the server's fan-out
capacity; with -r each publisher sends at that rate, which measures latency
under a given load (send to delivery, one way).

Examples:
  packetbench fanout -c 100 -t 5s                        TCP, flooded
  packetbench fanout -c 1000 --transport tcp,udp          both, side by side
  packetbench fanout -c 100 --transport tcp,tls           TLS beside TCP
  packetbench fanout -c 100 -r 2000 --transport tcp,udp   p50/p99 at 2,000 msg/s
  packetbench fanout -c 100 --qos 1 --persist             QoS 1, on disk
  packetbench fanout -c 20 --transport udp --loss 20% --seed 1 -r 500   QoS 0 loses 20%
  packetbench fanout -c 20 --transport udp --loss 20% --qos 1 -r 500 \
      --server-flag=-max-retries=20                      QoS 1 loses none

Over heavy loss at QoS 1 the server gives up on a subscriber whose MESSAGE
went unacknowledged through 4 retransmissions (BYE 302, a note says so, and
the exit status is 1); --server-flag=-max-retries=20 keeps it trying. A
publisher window (--window) much above the server's socket buffer in ACKs
makes UDP QoS 1 retransmit needlessly under a flood: hence the default of 20
over UDP (100 over TCP and TLS); 10 to 30 works well.
`,
	"rtt": `packetbench rtt: -c clients (1) each send to their own session room with
echo, so that the server returns each message to its sender: the latency
reported is the round trip. Without -r each client sends its next message
when the previous one is back (closed loop; after 1 s it gives up on it);
with -r each sends at that rate and the latency counts from the scheduled
send time, so a stalled sender shows (no coordinated omission).

Examples:
  packetbench rtt                                       closed loop, TCP
  packetbench rtt -r 10k --transport tcp,udp            10,000 msg/s
  packetbench rtt -c 10 -r 1000 --delay 20ms --jitter 5ms
  packetbench rtt --transport udp --loss 5% -r 100      a round trip crosses the lossy link twice
  packetbench rtt --transport tcp,udp --loss 1% -r 200 -n 2000   TCP's retransmission timeouts (root)
`,
	"ingest": `packetbench ingest: -c devices (100) each send -r messages/s (10) to one
room, which --sinks subscribers (1) read: the rate the server takes in from
many devices, and what reaches the sinks.

Examples:
  packetbench ingest -c 1000 -r 100                     100,000 msg/s in
  packetbench ingest -c 1000 -r 100 --transport tcp,udp
  packetbench ingest -c 200 -r 50 --transport udp --loss 1% --qos 1
`,
	"conns": `packetbench conns: open -c idle sessions (1000) and hold them for -t.

Reports the server's resident memory before and after, and per session, and
how fast the sessions opened: the sent and received messages are the HELLOs
and WELCOMEs, the rate is sessions/s, the latency a handshake's (over UDP
including the PING that validates the client's address). Each session needs
a file descriptor here (and, over TCP, one in the server; over TLS three):
the limit is checked first.

Examples:
  packetbench conns -c 10000
  packetbench conns -c 10000 --transport tcp,udp -t 5s
  packetbench conns -c 2000 --transport tcp,tls          memory per TLS session
`,
	"impair": `packetbench impair: run the impairment proxy on its own, between any clients
and a server, until Ctrl-C (SIGINT or SIGTERM; the exit status is then 0).

Usage:
  packetbench impair [flags]

  packetbench impair --listen 127.0.0.1:7171 --target 127.0.0.1:7070 \
      --loss 5% --delay 20ms --jitter 5ms --reorder 1% --duplicate 1% --rate 10mbit --seed 1

Clients connect to --listen (TCP and UDP, the same port); the proxy relays to
--target. UDP datagrams are lost, duplicated, reordered, delayed and rate
limited; a TCP byte stream is delayed, jittered and rate limited, and with
--loss its packets between the clients and the proxy are dropped in the
kernel (an nftables rule on the --listen port; root or CAP_NET_ADMIN). Each
flag applies to both directions. Every -i it prints what it did, and the
totals when it stops.

Flags:
  --listen ADDR        where clients connect, TCP and UDP (127.0.0.1:7171)
  --target ADDR        the server (127.0.0.1:7070)
  --transport LIST     which proxies to run: tcp, udp or tcp,udp (tcp,udp)
  --loss P             drop datagrams, 5% or 0.05 (0%); over TCP, packets in
                       the kernel (below 100%)
  --duplicate P        duplicate datagrams (0%; UDP only)
  --reorder P          hold datagrams back behind the next one (0%; UDP only)
  --delay DURATION     add delay, each direction (0)
  --jitter DURATION    add a uniform random delay in [0, jitter) (0)
  --rate BW            bandwidth per connection or flow: 10mbit, 1gbit, 500kbps
                       (unlimited)
  --seed N             the random seed (1)
  -i DURATION          report interval, at least 10ms (1s)
  --allow-remote       allow a --target that is not a loopback address
  --max-flows N        UDP flows and TCP connections at once, at least 1
                       (1024); beyond it new clients are refused (counted in
                       "refused": datagrams for UDP, connections for TCP)
`,
	"report": `packetbench report: render a run saved with --json again: the text table on
standard output and, if asked, the CSV, the HTML report, and the report's
two plots as SVG files of their own (for slides and docs).

Usage:
  packetbench report FILE.json [flags]

  packetbench fanout -c 100 --transport tcp,udp -J run.json
  packetbench report run.json --report run.html --svg-latency latency.svg

Flags:
  --csv [FILE]            the CSV (standard output without FILE)
  --report FILE.html      the HTML report
  --svg-latency FILE      the latency distribution (CDF) plot, SVG
  --svg-throughput FILE   the deliveries per interval plot, SVG
`,
}
