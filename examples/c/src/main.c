/*
 * main.c - demo packetd client over POSIX sockets (the "modem" of packetd.c).
 *
 *   client tcp|udp host port room [scenario]
 *   client selftest
 *
 * Prints one line per protocol event on stdout, for c_test.go to follow.
 * Scenarios: (none) the demo; "rebind" (udp) the demo plus a simulated NAT
 * rebinding; "lossy" (udp) the demo losing the first WELCOME and the first
 * ACK; "bad-NAME" a malformed, unexpected or refused packet (see bads[]);
 * "udp-drop", "udp-unknown", "udp-shorthello" UDP error behaviour.
 */
#define _POSIX_C_SOURCE 200809L
#include "packetd.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static pd_client cli;   /* all protocol state: about 3 KB */

static void say(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	fflush(stdout);
}

/* ------------------------------------------------------------------ */
/* the POSIX transport                                                 */

typedef struct {
	int fd, udp;
	struct sockaddr_storage peer;
	socklen_t peerlen;
	unsigned drop_once;   /* UDP: bit t set: lose the next packet of type t */
} sock_ctx;

static sock_ctx sock;

static uint32_t io_now(void *ctx)
{
	struct timespec ts;
	(void)ctx;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint32_t)((uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u);
}

static uint32_t io_random(void *ctx)
{
	uint32_t v = 0;
	int fd = open("/dev/urandom", O_RDONLY);
	(void)ctx;
	if (fd >= 0) {
		if (read(fd, &v, sizeof v) != (ssize_t)sizeof v) v = 0;
		close(fd);
	}
	return v ? v : io_now(NULL) ^ ((uint32_t)getpid() << 16);
}

static int io_send(void *ctx, const uint8_t *b, size_t n)
{
	sock_ctx *s = ctx;
	if (s->udp)
		return sendto(s->fd, b, n, 0, (struct sockaddr *)&s->peer,
		              s->peerlen) == (ssize_t)n ? 0 : -1;
	while (n) {
		ssize_t k = send(s->fd, b, n, MSG_NOSIGNAL);
		if (k < 0 && errno == EINTR) continue;
		if (k <= 0) return -1;
		b += k;
		n -= (size_t)k;
	}
	return 0;
}

static int same_addr(const struct sockaddr_storage *a, const struct sockaddr_storage *b)
{
	if (a->ss_family != b->ss_family) return 0;
	if (a->ss_family == AF_INET) {
		const struct sockaddr_in *x = (const void *)a, *y = (const void *)b;
		return x->sin_port == y->sin_port &&
		       x->sin_addr.s_addr == y->sin_addr.s_addr;
	}
	if (a->ss_family == AF_INET6) {
		const struct sockaddr_in6 *x = (const void *)a, *y = (const void *)b;
		return x->sin6_port == y->sin6_port &&
		       memcmp(&x->sin6_addr, &y->sin6_addr, sizeof x->sin6_addr) == 0;
	}
	return 0;
}

static long io_recv(void *ctx, uint8_t *b, size_t cap, uint32_t timeout_ms)
{
	sock_ctx *s = ctx;
	uint32_t start = io_now(NULL);
	for (;;) {
		uint32_t el = io_now(NULL) - start;
		struct pollfd p;
		ssize_t k;
		int r;
		if (el > timeout_ms) return 0;
		p.fd = s->fd; p.events = POLLIN; p.revents = 0;
		r = poll(&p, 1, (int)(timeout_ms - el));
		if (r < 0 && errno == EINTR) continue;
		if (r < 0) return -1;
		if (r == 0) return 0;
		if (!s->udp) {
			k = recv(s->fd, b, cap, 0);
			if (k < 0 && errno == EINTR) continue;
			return k > 0 ? (long)k : -1;   /* 0: the server closed */
		} else {
			struct sockaddr_storage from;
			socklen_t fl = sizeof from;
			k = recvfrom(s->fd, b, cap, 0, (struct sockaddr *)&from, &fl);
			if (k < 0 && (errno == EINTR || errno == EAGAIN)) continue;
			if (k < 0) return -1;
			/* section 6.1: only datagrams from the exact IP address
			 * and port we send to (an unconnected socket, so that
			 * the rebind scenario can change the local port) */
			if (k == 0 || !same_addr(&from, &s->peer)) continue;
			if (k >= 2 && b[1] < 16 && (s->drop_once & (1u << b[1]))) {
				s->drop_once &= ~(1u << b[1]);
				say("lost type=%u id=%u", b[1], (unsigned)(k >= 8 ?
				    (uint32_t)b[4] << 24 | (uint32_t)b[5] << 16 | (uint32_t)b[6] << 8 | b[7] : 0));
				continue;
			}
			return (long)k;
		}
	}
}

static const pd_io sock_io = { &sock, io_send, io_recv, io_now, io_random };

static int dial(const char *host, const char *port, int udp)
{
	struct addrinfo hints, *res, *ai;
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = udp ? SOCK_DGRAM : SOCK_STREAM;
	if (getaddrinfo(host, port, &hints, &res) != 0) return -1;
	sock.fd = -1;
	sock.udp = udp;
	for (ai = res; ai && sock.fd < 0; ai = ai->ai_next) {
		sock.fd = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
		if (sock.fd < 0) continue;
		if (!udp && connect(sock.fd, ai->ai_addr, ai->ai_addrlen) != 0) {
			close(sock.fd);
			sock.fd = -1;
			continue;
		}
		memcpy(&sock.peer, ai->ai_addr, ai->ai_addrlen);
		sock.peerlen = ai->ai_addrlen;
	}
	freeaddrinfo(res);
	return sock.fd < 0 ? -1 : 0;
}

/* Simulated NAT rebinding: the same session from a new local port. The
 * new socket is bound before the old one closes, so the port differs. */
static int rebind(void)
{
	struct sockaddr_storage any;
	int fd = socket(sock.peer.ss_family, SOCK_DGRAM, 0);
	if (fd < 0) return -1;
	memset(&any, 0, sizeof any);
	any.ss_family = sock.peer.ss_family;
	if (bind(fd, (struct sockaddr *)&any, sock.peer.ss_family == AF_INET ?
	         sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6)) != 0) {
		close(fd);
		return -1;
	}
	close(sock.fd);
	sock.fd = fd;
	return 0;
}

/* ------------------------------------------------------------------ */
/* application                                                         */

static int got_message;

static void print_span(char *out, size_t cap, pd_span s)
{
	size_t i, n = s.n < cap - 1 ? s.n : cap - 1;
	for (i = 0; i < n; i++)
		out[i] = (s.p[i] >= 0x20 && s.p[i] < 0x7f) ? (char)s.p[i] : '?';
	out[n] = 0;
}

static void on_message(pd_client *c, const pd_message *m)
{
	static char from[24], event[64], data[1200];
	mpr r;
	pd_span str;
	(void)c;
	print_span(from, sizeof from, m->from);
	print_span(event, sizeof event, m->event);
	mpr_init(&r, m->data.p, m->data.n);
	if (!m->data.p) {
		strcpy(data, "<absent>");
	} else if (mpr_str(&r, &str.p, &str.n) == 0 && r.pos == r.n) {
		print_span(data, sizeof data, str);
	} else {
		snprintf(data, sizeof data, "<not a str: %02x...>", m->data.p[0]);
	}
	say("message id=%u from=%s event=%s data=%s", (unsigned)m->id, from, event, data);
	got_message++;
}

static int failed(const char *what, int rc)
{
	say("fail %s rc=%d code=%u msg=%s", what, rc, (unsigned)cli.close_code, cli.close_msg);
	return 1;
}

static int wait_message(uint32_t ms)
{
	uint32_t start = io_now(NULL);
	int want = got_message + 1;
	while (got_message < want) {
		uint32_t el = io_now(NULL) - start;
		int rc;
		if (el >= ms) return PD_TIMEOUT;
		rc = pd_service(&cli, ms - el);
		if (rc != PD_OK && rc != PD_TIMEOUT) return rc;
	}
	return PD_OK;
}

static void print_welcome(void)
{
	char key[17];
	int i;
	for (i = 0; i < 8; i++)
		sprintf(key + 2 * i, "%02x", cli.key[i]);
	say("welcome sid=%s key=%s keepalive=%u max_frame=%u max_datagram=%u max_rooms=%u server=%s",
	    cli.sid, key, (unsigned)cli.keepalive, (unsigned)cli.max_frame,
	    (unsigned)cli.max_datagram, (unsigned)cli.max_rooms, cli.server);
}

/* After our BYE over TCP the server closes (section 5.2): wait for it. */
static void await_close(void)
{
	pd_packet pk;
	int rc;
	while ((rc = pd_recv(&cli, &pk, 3000)) == PD_OK)
		say("after-close type=%u", pk.type);
	say(rc == PD_CLOSED ? "closed" : "not closed rc=%d", rc);
}

/* After our BYE over UDP (sent twice, section 4.9): the second copy gets
 * ERROR 305, which pd_service ignores. Show that it came and changed
 * nothing; over a real network it may not come (the first copy was lost). */
static void await_stale(void)
{
	uint32_t start = io_now(NULL), before = cli.stale_errors;
	while (cli.stale_errors == before && io_now(NULL) - start < 2000) {
		int rc = pd_service(&cli, 2000 - (io_now(NULL) - start));
		if (rc != PD_OK && rc != PD_TIMEOUT) break;
	}
	if (cli.stale_errors != before)
		say("ignored error code=%u open=%d close_type=%u", (unsigned)cli.stale_code,
		    cli.open, (unsigned)cli.close_type);
	else
		say("ignored nothing");
}

static int demo(const char *room, const char *scenario)
{
	static const uint8_t tok[8] = { 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4 };
	static uint8_t data[64];
	mpw w;
	int rc;

	if (strcmp(scenario, "lossy") == 0)
		sock.drop_once = 1u << PD_WELCOME | 1u << PD_ACK;
	if ((rc = pd_hello(&cli, 30)) != PD_OK) return failed("hello", rc);
	print_welcome();
	/* over UDP this JOIN is also the datagram that validates our address */
	if ((rc = pd_join(&cli, PD_JOIN, room)) != PD_OK) return failed("join", rc);
	say("joined room=%s", room);
	if ((rc = wait_message(10000)) != PD_OK) return failed("message", rc);

	mpw_init(&w, data, sizeof data);
	mpw_str(&w, "hello from c", 12);
	if ((rc = pd_emit(&cli, room, "reply", data, w.n)) != PD_OK) return failed("emit", rc);
	say("emitted event=reply");

	if ((rc = pd_ping(&cli, tok, sizeof tok)) != PD_OK) return failed("ping", rc);
	say("pong token=deadbeef01020304");

	if (strcmp(scenario, "rebind") == 0) {
		uint32_t before = cli.server_pings, start;
		if (rebind() != 0) return failed("rebind", -1);
		say("rebound");
		/* our next datagram comes from a new port: the server moves the
		 * session and sends a PING there, which pd_service answers */
		if ((rc = pd_ping(&cli, tok + 4, 4)) != PD_OK) return failed("ping2", rc);
		start = io_now(NULL);
		while (cli.server_pings == before && io_now(NULL) - start < 3000)
			pd_service(&cli, 3000 - (io_now(NULL) - start));
		if (cli.server_pings == before) return failed("no server ping", PD_TIMEOUT);
		/* the server handles our datagrams in order: once this PONG is
		 * here, our PONG to its PING has been handled too */
		if ((rc = pd_ping(&cli, tok, 2)) != PD_OK) return failed("ping3", rc);
		say("server-ping answered n=%u", (unsigned)(cli.server_pings - before));
		if ((rc = wait_message(10000)) != PD_OK) return failed("message2", rc);
	}

	if ((rc = pd_bye(&cli)) != PD_OK) return failed("bye", rc);
	say("bye");
	if (cli.udp) await_stale();
	else await_close();
	return 0;
}

/* ------------------------------------------------------------------ */
/* malformed and unexpected packets                                    */

#define BAD_ID 0x63
struct bad {
	const char *name;
	int hello;    /* open the session first */
	int raw;      /* bytes are sent as they are, no length prefix */
	uint8_t len;
	uint8_t b[40];
};

#define HDR(t, f, r) 0x01, t, f, r, 0, 0, 0, BAD_ID
#define ROOMS_X 0x81, 0xa5, 'r', 'o', 'o', 'm', 's', 0x91, 0xa1, 'x'
static const struct bad bads[] = {
	{ "badversion", 1, 0, 8, { 0x02, 0x08, 0, 0, 0, 0, 0, BAD_ID } },
	{ "badtype", 1, 0, 8, { HDR(0x0c, 0, 0) } },
	{ "typezero", 1, 0, 8, { HDR(0x00, 0, 0) } },
	{ "badflags", 1, 0, 8, { HDR(0x08, 0x08, 0) } },
	{ "qos2", 1, 0, 8, { HDR(0x08, 0x02, 0) } },
	{ "badreserved", 1, 0, 8, { HDR(0x08, 0, 1) } },
	{ "short", 1, 1, 8, { 0, 0, 0, 4, 0x01, 0x08, 0, 0 } },
	{ "toolarge", 0, 1, 4, { 0, 0, 0x04, 0x01 } },
	{ "nohello", 0, 0, 8, { HDR(0x08, 0, 0) } },
	{ "secondhello", 1, 0, 8, { HDR(0x01, 0, 0) } },
	{ "clientwelcome", 1, 0, 8 + 23, { HDR(0x02, 0, 0), 0x81, 0xa3, 's', 'i', 'd', 0xb1,
	  '$', '0', '0', '0', '0', '0', '0', '0', '0', '0', '0', '0', '0', '0', '0', '0', '1' } },
	{ "clientack", 1, 0, 8, { HDR(0x07, 0, 0) } },
	{ "badbody", 1, 0, 16, { HDR(0x03, 0, 0), 0x81, 0xa5, 'r', 'o', 'o', 'm', 's', 0x01 } },
	{ "trailing", 1, 0, 10, { HDR(0x08, 0, 0), 0x80, 0x00 } },
	{ "emptyjoin", 1, 0, 8, { HDR(0x03, 0, 0) } },
	{ "qosjoin", 1, 0, 18, { HDR(0x03, 0x01, 0), ROOMS_X } },
	{ "dollarjoin", 1, 0, 18, { HDR(0x03, 0, 0), 0x81, 0xa5, 'r', 'o', 'o', 'm', 's', 0x91, 0xa1, '$' } },
	{ "emitbig", 1, 0, 0, { 0 } },   /* built by emit_max_frame() */
};

/* An EMIT of exactly max_frame bytes to room "r": its MESSAGE, 23 bytes
 * more, would exceed max_frame, so the server refuses it with ERROR 205
 * (sections 5.1 and 9). 0 if max_frame is too small or too large for us. */
static size_t emit_max_frame(uint8_t *p, size_t cap)
{
	static const uint8_t zeros[256];
	mpw w;
	size_t used;
	pd_header(p, PD_EMIT, 0, BAD_ID);
	mpw_init(&w, p + PD_HDR_LEN, cap - PD_HDR_LEN);
	mpw_map(&w, 2);
	mpw_str(&w, "rooms", 5);
	mpw_array(&w, 1);
	mpw_str(&w, "r", 1);
	mpw_str(&w, "data", 4);
	used = PD_HDR_LEN + w.n + 2;   /* and a bin8 header */
	if (cli.max_frame < used || cli.max_frame - used > sizeof zeros - 1) return 0;
	mpw_bin(&w, zeros, cli.max_frame - used);
	return w.err ? 0 : PD_HDR_LEN + w.n;
}

static int run_bad(const char *name)
{
	static const uint8_t tok[2] = { 0xab, 0xcd };
	static uint8_t built[PD_TX_CAP];
	const struct bad *b = NULL;
	const uint8_t *bytes;
	size_t i, len;
	int rc;
	for (i = 0; i < sizeof bads / sizeof bads[0]; i++)
		if (strcmp(bads[i].name, name) == 0) b = &bads[i];
	if (!b) return failed("unknown scenario", -1);
	if (b->hello) {
		if ((rc = pd_hello(&cli, 30)) != PD_OK) return failed("hello", rc);
		print_welcome();
	}
	bytes = b->b;
	len = b->len;
	if (!len) {
		bytes = built;
		if (!(len = emit_max_frame(built, sizeof built))) return failed("build", -1);
	}
	rc = b->raw ? (sock_io.send(&sock, bytes, len) ? PD_EIO : PD_OK)
	            : pd_send_packet(&cli, bytes, len);
	if (rc != PD_OK) return failed("send", rc);
	say("sent %s", name);
	/* then a PING: a fatal ERROR comes instead of its PONG, a request
	 * ERROR (200-299) before it, and an ignored packet changes nothing */
	cli.ans_id = 0;
	rc = pd_ping(&cli, tok, sizeof tok);
	if (cli.ans_id == BAD_ID)
		say("error code=%u id=%u fatal=0", (unsigned)cli.ans_code, BAD_ID);
	if (rc == PD_OK) {
		say("pong token=abcd");
		pd_bye(&cli);
		say("bye");
		await_close();
		return 0;
	}
	if (rc != PD_CLOSED) return failed("ping", rc);
	if (cli.close_type == PD_ERROR)
		say("error code=%u id=%u fatal=1 msg=%s", (unsigned)cli.close_code,
		    (unsigned)cli.err_id, cli.close_msg);
	else if (cli.close_type == PD_BYE)
		say("byereceived code=%u", (unsigned)cli.close_code);
	if (cli.close_type) await_close();
	else say("closed");
	return 0;
}

/* ------------------------------------------------------------------ */
/* UDP error behaviour (section 6.7)                                   */

static int udp_scenario(const char *room, const char *name)
{
	static const uint8_t tok[4] = { 1, 2, 3, 4 };
	pd_packet pk;
	int rc;
	if (strcmp(name, "udp-shorthello") == 0) {
		/* an unpadded HELLO (31 bytes with its prefix), then a padded one
		 * with another nonce: a WELCOME to the first would arrive first */
		static const uint8_t hello[] = { 0x01, 0x01, 0, 0, 0x12, 0x34, 0x56, 0x78,
		    0x81, 0xa9, 'k', 'e', 'e', 'p', 'a', 'l', 'i', 'v', 'e', 0x1e };
		if ((rc = pd_send_packet(&cli, hello, sizeof hello)) != PD_OK) return failed("send", rc);
		if ((rc = pd_hello(&cli, 30)) != PD_OK) return failed("hello", rc);
		print_welcome();
		say("stray-welcomes=%u", (unsigned)cli.stray_welcomes);
		pd_bye(&cli);
		say("bye");
		return 0;
	}
	if ((rc = pd_hello(&cli, 30)) != PD_OK) return failed("hello", rc);
	print_welcome();
	if ((rc = pd_join(&cli, PD_JOIN, room)) != PD_OK) return failed("join", rc);
	say("joined room=%s", room);
	if (strcmp(name, "udp-drop") == 0) {
		/* datagrams the server must drop without an answer, then a
		 * PING: the first packet back must be its PONG */
		static const uint8_t drops[][18] = {
			{ 0x02, 0x08, 0, 0, 0, 0, 0, 1 },           /* version */
			{ HDR(0x0c, 0, 0) },                        /* type */
			{ HDR(0x08, 0x08, 0) },                     /* flags */
			{ HDR(0x08, 0, 0), 0x80, 0x00 },            /* trailing */
			{ HDR(0x03, 0, 0) },                        /* JOIN, no rooms */
			{ HDR(0x03, 0x01, 0), ROOMS_X },            /* JOIN, QoS 1 */
			{ HDR(0x01, 0, 0) },                        /* HELLO behind a sid */
			{ HDR(0x07, 0, 0) },                        /* ACK from a client */
		};
		static const uint8_t lens[] = { 8, 8, 8, 10, 8, 18, 8, 8 };
		static const uint8_t ping[] = { 0x01, 0x08, 0, 0, 0, 0, 0x77, 0x77 };
		size_t i;
		for (i = 0; i < sizeof lens; i++)
			if ((rc = pd_send_packet(&cli, drops[i], lens[i])) != PD_OK) return failed("send", rc);
		if ((rc = pd_send_packet(&cli, ping, sizeof ping)) != PD_OK) return failed("send", rc);
		say("sent %u bad datagrams", (unsigned)sizeof lens);
		if ((rc = pd_recv(&cli, &pk, 3000)) != PD_OK) return failed("recv", rc);
		say("first answer type=%u id=%u", pk.type, (unsigned)pk.id);
	} else if (strcmp(name, "udp-unknown") == 0) {
		/* a PING behind a key that is not ours */
		static const uint8_t ping[] = { 0x01, 0x08, 0, 0, 0, 0, 0x55, 0x55 };
		uint8_t save = cli.key[0];
		cli.key[0] ^= 0x80;
		rc = pd_send_packet(&cli, ping, sizeof ping);
		cli.key[0] = save;
		if (rc != PD_OK) return failed("send", rc);
		if ((rc = pd_recv(&cli, &pk, 3000)) != PD_OK) return failed("recv", rc);
		if (pk.type == PD_ERROR) {
			/* not handed to pd_service: it would end our session */
			mpr r;
			uint32_t n, kn, code = 0, i;
			const uint8_t *k;
			mpr_init(&r, pk.body, pk.body_len);
			if (mpr_map(&r, &n) == 0)
				for (i = 0; i < n && !r.err; i++) {
					if (mpr_str(&r, &k, &kn)) break;
					if (mpr_key(k, kn, "code")) mpr_uint(&r, 0xffff, &code);
					else mpr_skip(&r);
				}
			say("error code=%u id=%u", (unsigned)code, (unsigned)pk.id);
		} else {
			say("first answer type=%u id=%u", pk.type, (unsigned)pk.id);
		}
	} else {
		return failed("unknown scenario", -1);
	}
	/* the real session is unharmed */
	if ((rc = pd_ping(&cli, tok, sizeof tok)) != PD_OK) return failed("ping", rc);
	say("pong token=01020304");
	pd_bye(&cli);
	say("bye");
	return 0;
}

int selftest(void);

int main(int argc, char **argv)
{
	const char *scenario = argc > 5 ? argv[5] : "";
	int udp;
	if (argc == 2 && strcmp(argv[1], "selftest") == 0)
		return selftest();
	if (argc < 5 || argc > 6 || (strcmp(argv[1], "tcp") && strcmp(argv[1], "udp"))) {
		fprintf(stderr, "usage: %s tcp|udp host port room [scenario]\n"
		                "       %s selftest\n", argv[0], argv[0]);
		return 2;
	}
	udp = strcmp(argv[1], "udp") == 0;
	if (dial(argv[2], argv[3], udp) != 0) {
		say("fail connect");
		return 1;
	}
	pd_init(&cli, &sock_io, udp);
	cli.on_message = on_message;
	/* credentials, for a server that authenticates (section 4.1.1) */
	cli.auth_user = getenv("PD_USER");
	cli.auth_pass = getenv("PD_PASS");
	cli.auth_token = getenv("PD_TOKEN");
	if (strncmp(scenario, "bad-", 4) == 0)
		return run_bad(scenario + 4);
	if (strncmp(scenario, "udp-", 4) == 0)
		return udp_scenario(argv[4], scenario);
	return demo(argv[4], scenario);
}
