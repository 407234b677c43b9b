/*
 * selftest.c - runs packetd.c over a memory "modem" against the hex
 * vectors quoted in docs/PROTOCOL.md (sections 4, 6 and 11), and the
 * timing of sections 6.6 and 7 on a fake clock. No server.
 */
#include "packetd.h"

#include <stdio.h>
#include <string.h>

static struct {
	uint8_t out[4096], in[4096];
	size_t outn, inn, inpos;
	size_t chunk;    /* TCP: at most this many bytes per read */
	uint32_t now, rnd;
	uint32_t in_at;  /* the input can be read from this time on */
	uint32_t sent_at[16]; size_t sends;   /* when each send happened */
} m;

static int m_send(void *ctx, const uint8_t *b, size_t n)
{
	(void)ctx;
	if (n > sizeof m.out - m.outn) return -1;
	memcpy(m.out + m.outn, b, n);
	m.outn += n;
	if (m.sends < 16) m.sent_at[m.sends] = m.now;
	m.sends++;
	return 0;
}

static long m_recv(void *ctx, uint8_t *b, size_t cap, uint32_t timeout_ms)
{
	size_t n = m.inn - m.inpos;
	(void)ctx;
	if (!n || m.in_at - m.now - 1 < 0x80000000u) {   /* now < in_at */
		if (n && m.in_at - m.now <= timeout_ms) {
			m.now = m.in_at;   /* the input arrives while we wait */
		} else {
			m.now += timeout_ms;   /* nothing to read: time passes */
			return 0;
		}
	}
	if (m.chunk && n > m.chunk) n = m.chunk;
	if (n > cap) n = cap;
	memcpy(b, m.in + m.inpos, n);
	m.inpos += n;
	return (long)n;
}

static uint32_t m_now(void *ctx) { (void)ctx; return m.now; }
static uint32_t m_random(void *ctx) { (void)ctx; return m.rnd; }

static const pd_io mio = { NULL, m_send, m_recv, m_now, m_random };
static pd_client c;
static int fails;

static size_t unhex(const char *s, uint8_t *out)
{
	size_t n = 0;
	int hi = -1;
	for (; *s; s++) {
		int v = *s >= '0' && *s <= '9' ? *s - '0' :
		        *s >= 'a' && *s <= 'f' ? *s - 'a' + 10 : -1;
		if (v < 0) continue;
		if (hi < 0) hi = v;
		else { out[n++] = (uint8_t)(hi << 4 | v); hi = -1; }
	}
	return n;
}

static void feed(const char *hex)
{
	m.inn = unhex(hex, m.in);
	m.inpos = 0;
	m.in_at = m.now;
}

/* The input arrives ms from now. */
static void feed_later(const char *hex, uint32_t ms)
{
	feed(hex);
	m.in_at = m.now + ms;
}

static void reset_out(void)
{
	m.outn = 0;
	m.sends = 0;
}

static void check(int ok, const char *what)
{
	if (!ok) {
		printf("selftest FAIL: %s\n", what);
		fails++;
	}
}

static void expect_out(const char *hex, const char *what)
{
	static uint8_t want[1024];
	size_t n = unhex(hex, want);
	check(m.outn == n && memcmp(m.out, want, n) == 0, what);
	reset_out();
}

/* The 6.6 schedule: sends at 0, 1, 3, 7 and 15 s after t0, each the same
 * len bytes, and the give-up at 31 s. */
static void check_schedule(uint32_t t0, size_t len, const char *what)
{
	static const uint32_t at[5] = { 0, 1000, 3000, 7000, 15000 };
	size_t i;
	int ok = m.sends == 5 && m.outn == 5 * len && m.now - t0 == 31000;
	for (i = 0; ok && i < 5; i++)
		ok = m.sent_at[i] - t0 == at[i] &&
		     memcmp(m.out + i * len, m.out, len) == 0;
	check(ok, what);
	reset_out();
}

static pd_message got;
static uint8_t got_data[64];
static void on_msg(pd_client *cl, const pd_message *msg)
{
	(void)cl;
	got = *msg;
	memcpy(got_data, msg->data.p, msg->data.n < 64 ? msg->data.n : 64);
}

/* Section 11, client A over TCP. */
#define WELCOME_A_BODY \
	"86 a3 73 69 64 b1 24 38 66 33 61 32 63 31 64 34" \
	"65 35 62 36 61 37 39 a9 6b 65 65 70 61 6c 69 76" \
	"65 1e a9 6d 61 78 5f 66 72 61 6d 65 ce 00 10 00" \
	"00 ac 6d 61 78 5f 64 61 74 61 67 72 61 6d cd 04" \
	"80 a9 6d 61 78 5f 72 6f 6f 6d 73 cd 01 00 a6 73" \
	"65 72 76 65 72 a9 70 61 63 6b 65 74 64 2f 31"
#define MESSAGE_BODY \
	"84 a5 72 6f 6f 6d 73 91 a5 6c 6f 62 62 79 a4 66" \
	"72 6f 6d b1 24 38 66 33 61 32 63 31 64 34 65 35" \
	"62 36 61 37 39 a5 65 76 65 6e 74 a4 74 65 6d 70" \
	"a4 64 61 74 61 81 a1 63 15"

static void tcp_vectors(void)
{
	static const uint8_t data[] = { 0x81, 0xa1, 0x63, 0x15 };
	static const uint8_t tok[] = { 0xde, 0xad, 0xbe, 0xef };
	int rc;

	pd_init(&c, &mio, 0);
	c.on_message = on_msg;
	m.chunk = 3;   /* frames arrive split: exercise reassembly */
	m.rnd = 1;
	feed("00 00 00 67 01 02 00 00 00 00 00 01" WELCOME_A_BODY);
	rc = pd_hello(&c, 30);
	check(rc == PD_OK, "tcp hello");
	expect_out("00 00 00 14 01 01 00 00 00 00 00 01"
	           "81 a9 6b 65 65 70 61 6c 69 76 65 1e", "11.1 HELLO frame");
	check(strcmp(c.sid, "$8f3a2c1d4e5b6a79") == 0, "4.2 sid");
	check(c.keepalive == 30 && c.max_frame == 1048576 && c.max_datagram == 1152 &&
	      c.max_rooms == 256 && strcmp(c.server, "packetd/1") == 0, "4.2 limits");

	c.next_id = 1;
	feed("00 00 00 08 01 07 00 00 00 00 00 02");
	check(pd_join(&c, PD_JOIN, "lobby") == PD_OK, "tcp join");
	expect_out("00 00 00 16 01 03 00 00 00 00 00 02"
	           "81 a5 72 6f 6f 6d 73 91 a5 6c 6f 62 62 79", "11.7 JOIN frame");

	check(pd_emit(&c, "lobby", "temp", data, sizeof data) == PD_OK, "tcp emit");
	expect_out("00 00 00 2a 01 05 00 00 00 00 00 03"
	           "83 a5 72 6f 6f 6d 73 91 a5 6c 6f 62 62 79 a5 65"
	           "76 65 6e 74 a4 74 65 6d 70 a4 64 61 74 61 81 a1 63 15",
	           "11.9 EMIT frame");

	feed("00 00 00 15 01 09 00 00 00 00 00 04"
	     "81 a5 74 6f 6b 65 6e c4 04 de ad be ef");
	check(pd_ping(&c, tok, sizeof tok) == PD_OK, "tcp ping/pong");
	expect_out("00 00 00 15 01 08 00 00 00 00 00 04"
	           "81 a5 74 6f 6b 65 6e c4 04 de ad be ef", "11.11 PING frame");

	feed("00 00 00 41 01 06 00 00 00 00 00 2a" MESSAGE_BODY);
	check(pd_service(&c, 1000) == PD_OK && got.id == 42, "11.10 MESSAGE");
	check(got.from.n == 17 && memcmp(got.from.p, "$8f3a2c1d4e5b6a79", 17) == 0 &&
	      got.event.n == 4 && memcmp(got.event.p, "temp", 4) == 0 &&
	      got.data.n == 4 && memcmp(got_data, data, 4) == 0 && got.rooms.n == 7,
	      "11.10 MESSAGE fields");

	/* a PING from the server is answered with the same id and body */
	feed("00 00 00 15 01 08 00 00 00 00 00 09"
	     "81 a5 74 6f 6b 65 6e c4 04 de ad be ef");
	check(pd_service(&c, 1000) == PD_OK, "server ping");
	expect_out("00 00 00 15 01 09 00 00 00 00 00 09"
	           "81 a5 74 6f 6b 65 6e c4 04 de ad be ef", "4.7 PONG");

	/* ERROR 200 answers request 8 (4.8); the session goes on */
	feed("00 00 00 27 01 0a 00 00 00 00 00 08"
	     "82 a4 63 6f 64 65 cc c8 a3 6d 73 67 b2 72 65 73"
	     "65 72 76 65 64 20 72 6f 6f 6d 20 6e 61 6d 65");
	check(pd_service(&c, 1000) == PD_OK && c.ans_id == 8 && c.ans_code == 200 &&
	      c.open, "4.8 ERROR 200");

	/* ERROR 205 (message too large) is a request error too (section 9) */
	feed("00 00 00 10 01 0a 00 00 00 00 00 09 81 a4 63 6f 64 65 cc cd");
	check(pd_service(&c, 1000) == PD_OK && c.ans_id == 9 && c.ans_code == 205 &&
	      c.open && !c.close_type, "9 ERROR 205 is not fatal");

	/* a PONG with our PING's id but another token answers no PING (4.7);
	 * over TCP nothing is resent, and the wait ends 31 s later (6.6).
	 * Meanwhile, 15 s (keepalive / 2) after the PING, a keepalive PING. */
	{
		uint32_t t0 = m.now;
		feed("00 00 00 15 01 09 00 00 00 00 00 0a"
		     "81 a5 74 6f 6b 65 6e c4 04 de ad be 00");
		c.next_id = 9;
		check(pd_ping(&c, tok, sizeof tok) == PD_TIMEOUT && m.sends == 2 &&
		      m.now - t0 == 31000 && c.open, "4.7 PONG with another token ignored");
		check(m.outn == 25 + 12 && m.sent_at[1] - t0 == 15000 && m.out[25 + 5] == PD_PING &&
		      m.out[25 + 11] == 0x0b, "7 keepalive PING during the wait");
		reset_out();
		/* the same PONG, then the right one */
		feed("00 00 00 15 01 09 00 00 00 00 00 0c"
		     "81 a5 74 6f 6b 65 6e c4 04 de ad be 00"
		     "00 00 00 15 01 09 00 00 00 00 00 0c"
		     "81 a5 74 6f 6b 65 6e c4 04 de ad be ef");
		check(pd_ping(&c, tok, sizeof tok) == PD_OK && m.sends == 1, "4.7 PONG with our token");
		reset_out();
	}

	/* a frame larger than our buffer is skipped, the next one is read */
	{
		size_t i;
		m.inn = 0;
		m.in[m.inn++] = 0; m.in[m.inn++] = 0; m.in[m.inn++] = 0x07; m.in[m.inn++] = 0xd0;
		for (i = 0; i < 2000; i++) m.in[m.inn++] = (uint8_t)i;
		m.inn += unhex("00 00 00 08 01 07 00 00 00 00 00 33", m.in + m.inn);
		m.inpos = 0;
		m.chunk = 700;
		c.ans_id = 0;
		check(pd_service(&c, 1000) == PD_OK && c.ans_id == 0x33, "5.1 skip big frame");
		m.chunk = 3;
	}

	/* keepalive 30 (section 7): idle for half of it, a PING goes out */
	m.inn = m.inpos = 0;
	reset_out();
	c.last_tx_ms = m.now;
	check(pd_service(&c, 60000) == PD_TIMEOUT && m.outn == 0, "7 quiet before 15 s");
	check(m_now(NULL) - c.last_tx_ms == 15000, "7 wakes at 15 s");
	check(pd_service(&c, 0) == PD_TIMEOUT && m.outn == 12 && m.out[5] == PD_PING &&
	      m.out[3] == 8, "7 keepalive PING");
	reset_out();

	/* BYE 301 from the server (4.9) ends the session */
	feed("00 00 00 23 01 0b 00 00 00 00 00 00"
	     "82 a4 63 6f 64 65 cd 01 2d a3 6d 73 67 ad 73 68"
	     "75 74 74 69 6e 67 20 64 6f 77 6e");
	rc = pd_service(&c, 1000);
	check(rc == PD_CLOSED && c.close_code == 301 &&
	      strcmp(c.close_msg, "shutting down") == 0 && !c.open, "4.9 BYE 301");

	pd_init(&c, &mio, 0);
	c.open = 1;
	check(pd_bye(&c) == PD_OK, "bye");
	expect_out("00 00 00 08 01 0b 00 00 00 00 00 00", "11.13 BYE frame");

	/* no WELCOME over TCP: one HELLO, and the wait ends after 31 s */
	{
		uint32_t t0 = m.now;
		pd_init(&c, &mio, 0);
		m.inn = m.inpos = 0;
		check(pd_hello(&c, 30) == PD_TIMEOUT && m.sends == 1 &&
		      m.now - t0 == 31000, "6.6 TCP HELLO wait bound");
		reset_out();
	}
}

#define WELCOME_B \
	"01 02 00 00 7c 1e 9a 33" \
	"86 a3 73 69 64 b1 24 35 66 30 63 37 65 33 62 39" \
	"64 32 61 34 31 36 38 a3 6b 65 79 c4 08 c4 e1 a7" \
	"09 3b 6d 52 f8 a9 6b 65 65 70 61 6c 69 76 65 3c" \
	"ac 6d 61 78 5f 64 61 74 61 67 72 61 6d cd 04 80" \
	"a9 6d 61 78 5f 72 6f 6f 6d 73 cd 01 00 a6 73 65" \
	"72 76 65 72 a9 70 61 63 6b 65 74 64 2f 31"
#define KEY_B "c4 e1 a7 09 3b 6d 52 f8"
#define ERROR_305 "01 0a 00 00 00 00 00 00 81 a4 63 6f 64 65 cd 01 31"

static void udp_vectors(void)
{
	static const uint8_t prefix[8] = { 0xc4, 0xe1, 0xa7, 0x09, 0x3b, 0x6d, 0x52, 0xf8 };
	static const uint8_t tok[] = { 0xde, 0xad, 0xbe, 0xef };
	uint32_t t0;
	size_t i;

	pd_init(&c, &mio, 1);
	c.on_message = on_msg;
	m.chunk = 0;
	m.rnd = 0x7c1e9a33;
	feed(WELCOME_B);
	check(pd_hello(&c, 60) == PD_OK, "udp hello");
	expect_out("00 00 00 00 00 00 00 00 01 01 00 00 7c 1e 9a 33"
	           "82 a9 6b 65 65 70 61 6c 69 76 65 3c a3 70 61 64"
	           "c4 1e 00 00 00 00 00 00 00 00 00 00 00 00 00 00"
	           "00 00 00 00 00 00 00 00 00 00 00 00 00 00 00 00",
	           "6.2 HELLO datagram");
	check(memcmp(c.key, prefix, 8) == 0 && strcmp(c.sid, "$5f0c7e3b9d2a4168") == 0,
	      "6.3 key prefix, not the sid");

	feed("01 07 00 00 00 00 00 01");
	check(pd_join(&c, PD_JOIN, "lobby") == PD_OK, "udp join");
	expect_out(KEY_B " 01 03 00 00 00 00 00 01"
	           "81 a5 72 6f 6f 6d 73 91 a5 6c 6f 62 62 79", "6.3 JOIN datagram");

	feed("01 06 00 00 00 00 00 2a" MESSAGE_BODY);
	check(pd_service(&c, 1000) == PD_OK && got.id == 42 && got.data.n == 4,
	      "4.5 MESSAGE datagram");

	/* once the session is open, a WELCOME (a duplicate, or the answer
	 * to a resent HELLO) is ignored (6.2) */
	feed(WELCOME_B);
	check(pd_service(&c, 1000) == PD_OK && c.open && c.stray_welcomes == 1 &&
	      m.outn == 0, "6.2 WELCOME ignored once open");

	/* no ACK: the same JOIN at 0, 1, 3, 7 and 15 s; give up at 31 s
	 * (6.6). Half the keepalive (30 s) never passes between sends. */
	m.inn = m.inpos = 0;
	t0 = m.now;
	check(pd_join(&c, PD_JOIN, "lobby") == PD_TIMEOUT, "udp join timeout");
	check(m.out[15] == 2, "6.6 JOIN resent with the same id");
	check_schedule(t0, 30, "6.6 JOIN retransmission");

	/* the ACK arrives 2.5 s after the first send: two sends, answered */
	t0 = m.now;
	feed_later("01 07 00 00 00 00 00 03", 2500);
	check(pd_join(&c, PD_LEAVE, "lobby") == PD_OK && m.sends == 2 &&
	      m.sent_at[1] - t0 == 1000 && m.now - t0 == 2500 &&
	      memcmp(m.out, m.out + 30, 30) == 0 && m.out[9] == PD_LEAVE,
	      "6.6 LEAVE answered after a resend");
	reset_out();

	/* a liveness PING: the same schedule, same id and token (4.7, 6.6) */
	m.inn = m.inpos = 0;
	t0 = m.now;
	check(pd_ping(&c, tok, sizeof tok) == PD_TIMEOUT, "udp ping timeout");
	check(m.out[15] == 4 && m.out[28] == 0xef, "6.6 PING resent, same id and token");
	check_schedule(t0, 8 + 8 + 13, "6.6 PING retransmission");
	t0 = m.now;
	feed_later("01 09 00 00 00 00 00 05 81 a5 74 6f 6b 65 6e c4 04 de ad be ef", 1200);
	check(pd_ping(&c, tok, sizeof tok) == PD_OK && m.sends == 2 &&
	      m.now - t0 == 1200, "6.6 PONG to the resent PING");
	reset_out();

	/* a datagram that fills the receive buffer may be truncated: dropped;
	 * one byte less is taken (section 12) */
	for (i = 0; i < 2; i++) {
		size_t n = PD_RX_CAP - 1 + i;
		memset(m.in, 0, n);
		m.in[0] = 0x01; m.in[1] = PD_ACK; m.in[7] = (uint8_t)(0x70 + i);
		m.inn = n; m.inpos = 0; m.in_at = m.now;
		c.ans_id = 0;
		pd_service(&c, 10);
		check(c.ans_id == (i ? 0u : 0x70u), i ? "12 full buffer dropped" : "12 datagram taken");
	}

	/* BYE over UDP goes twice (4.9); the ERROR 305 the second copy gets
	 * is ignored, and so is a late ERROR 302 */
	reset_out();
	check(pd_bye(&c) == PD_OK && !c.open, "udp bye");
	expect_out(KEY_B " 01 0b 00 00 00 00 00 00 " KEY_B " 01 0b 00 00 00 00 00 00",
	           "4.9 BYE twice");
	feed(ERROR_305);
	check(pd_service(&c, 1000) == PD_OK && c.stale_errors == 1 && c.stale_code == 305 &&
	      !c.close_type && m.outn == 0, "4.9 ERROR 305 after BYE ignored");
	feed("01 0a 00 00 00 00 00 00 81 a4 63 6f 64 65 cd 01 2e");
	check(pd_service(&c, 1000) == PD_OK && c.stale_errors == 2 && c.stale_code == 302 &&
	      !c.close_type, "7 late ERROR 302 ignored");

	/* a new session; nothing sent after WELCOME: a PING at once (6.4).
	 * An ERROR 305 now is about this session: it ends it (6.7). */
	feed(WELCOME_B);
	check(pd_hello(&c, 60) == PD_OK, "udp hello again");
	reset_out();
	m.inn = m.inpos = 0;
	check(pd_service(&c, 10) == PD_TIMEOUT, "6.4 service");
	expect_out(KEY_B " 01 08 00 00 00 00 00 06", "6.4 validation PING");
	check(pd_service(&c, 10) == PD_TIMEOUT && m.outn == 0, "6.4 only one PING");
	feed(ERROR_305);
	check(pd_service(&c, 1000) == PD_CLOSED && c.close_type == PD_ERROR &&
	      c.close_code == 305 && !c.open, "6.7 ERROR 305 ends an open session");

	/* no answer: the same HELLO at 0, 1, 3, 7 and 15 s; give up at 31 s
	 * (6.2, 6.6). A WELCOME that comes later is not awaited. */
	pd_init(&c, &mio, 1);
	m.inn = m.inpos = 0;
	m.now = 0xfffff000u;   /* the clock wraps meanwhile */
	m.rnd = 5;
	t0 = m.now;
	check(pd_hello(&c, 0) == PD_TIMEOUT, "udp hello timeout");
	/* without keepalive: 81 a3 "pad" c4 29 + 41 zeros (section 6.2) */
	check(m.out[16] == 0x81 && m.out[21] == 0xc4 && m.out[22] == 41 &&
	      m.out[15] == 5, "6.2 pad 41, nonce");
	check_schedule(t0, 64, "6.2 HELLO retransmission");
	feed("01 02 00 00 00 00 00 05 81 a3 73 69 64 b1 24 35 66 30 63 37 65 33 62 39"
	     "64 32 61 34 31 36 38");
	check(pd_service(&c, 10) == PD_OK && !c.open && c.stray_welcomes == 1,
	      "6.2 late WELCOME ignored");

	/* the WELCOME comes 1.5 s after the first HELLO: two HELLOs */
	pd_init(&c, &mio, 1);
	m.rnd = 0x7c1e9a33;
	t0 = m.now;
	feed_later(WELCOME_B, 1500);
	check(pd_hello(&c, 60) == PD_OK && m.sends == 2 && m.sent_at[1] - t0 == 1000 &&
	      memcmp(m.out, m.out + 64, 64) == 0, "6.2 HELLO answered after a resend");
	reset_out();
}

static void msgpack_vectors(void)
{
	/* unknown keys of every kind are skipped; keys in any order */
	static uint8_t b[256];
	size_t n = unhex(
	    "87"
	    "a3 6b 65 79 c4 08 00 00 00 00 00 00 00 01"      /* key */
	    "a1 7a dc 00 03 cb 40 09 21 fb 54 44 2d 18 d8 01 00 01 02 03 04 05 06 07 08 09 0a 0b 0c 0d 0e 0f c0"
	    "a9 6b 65 65 70 61 6c 69 76 65 d2 00 00 00 05"    /* int32 5 */
	    "a1 79 de 00 01 a1 61 92 e0 c7 02 05 aa bb"
	    "d9 03 73 69 64 b1 24 30 30 30 30 30 30 30 30 30 30 30 30 30 30 30 31"
	    "a1 78 c6 00 00 00 02 01 02"
	    "a3 6d 61 78 cf 00 00 00 01 00 00 00 00", b);
	pd_packet pk;
	mpr r;
	pk.type = PD_WELCOME; pk.id = 9; pk.flags = 0;
	pk.body = b; pk.body_len = n;
	pd_init(&c, &mio, 1);
	m.inn = m.inpos = 0;
	reset_out();
	/* feed it as a datagram through the normal path */
	memcpy(m.in, "\x01\x02\x00\x00\x00\x00\x00\x09", 8);
	memcpy(m.in + 8, b, n);
	m.inn = 8 + n;
	m.in_at = m.now;
	c.nonce = 9;   /* as if pd_hello waited for this WELCOME */
	check(pd_service(&c, 10) == PD_OK && c.open && c.keepalive == 5 &&
	      c.key[7] == 1, "3 unknown keys, int32, str8 key");
	/* the same WELCOME without its key: over UDP it is dropped, the
	 * session not opened (the public sid is no datagram prefix, 6.3) */
	pd_init(&c, &mio, 1);
	m.inn = m.inpos = 0;
	reset_out();
	memcpy(m.in, "\x01\x02\x00\x00\x00\x00\x00\x09\x86", 9);
	memcpy(m.in + 9, b + 15, n - 15);   /* after "87" and the key */
	m.inn = 9 + n - 15;
	m.in_at = m.now;
	c.nonce = 9;
	check(pd_service(&c, 10) == PD_OK && !c.open, "4.2 UDP WELCOME without key dropped");
	/* c1, a cut value, an impossible count */
	mpr_init(&r, (const uint8_t *)"\xc1", 1);
	check(mpr_skip(&r) != 0, "c1 invalid");
	mpr_init(&r, (const uint8_t *)"\xd9\x05\x61", 3);
	check(mpr_skip(&r) != 0, "cut str8");
	mpr_init(&r, (const uint8_t *)"\xdd\xff\xff\xff\xff\x01", 6);
	check(mpr_skip(&r) != 0, "array32 too long");
	mpr_init(&r, (const uint8_t *)"\xd3\xff\xff\xff\xff\xff\xff\xff\xff", 9);
	{
		uint32_t v;
		check(mpr_uint(&r, 0xffffffffu, &v) != 0, "negative int64 is no uint");
	}
	(void)pk;
}

int selftest(void)
{
	tcp_vectors();
	udp_vectors();
	msgpack_vectors();
	printf(fails ? "selftest failed: %d\n" : "selftest ok\n", fails);
	return fails ? 1 : 0;
}
