/*
 * packetd.c - packetd protocol version 1, client side, from docs/PROTOCOL.md.
 * See packetd.h. No malloc, no sockets, no recursion.
 */
#include "packetd.h"

#include <string.h>

/* ------------------------------------------------------------------ */
/* byte order (section 1): never cast buffers to structs               */

static void put32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	       (uint32_t)p[2] << 8 | (uint32_t)p[3];
}

static uint64_t getbe(const uint8_t *p, size_t n)
{
	uint64_t v = 0;
	while (n--)
		v = v << 8 | *p++;
	return v;
}

/* ------------------------------------------------------------------ */
/* msgpack writer                                                      */

void mpw_init(mpw *w, uint8_t *buf, size_t cap)
{
	w->b = buf; w->cap = cap; w->n = 0; w->err = 0;
}

void mpw_raw(mpw *w, const uint8_t *p, size_t n)
{
	if (w->err || n > w->cap - w->n) {
		w->err = 1;
		return;
	}
	if (n)
		memcpy(w->b + w->n, p, n);
	w->n += n;
}

static void mpw_tag(mpw *w, uint8_t tag, uint32_t v, size_t width)
{
	uint8_t t[5];
	size_t i;
	t[0] = tag;
	for (i = 0; i < width; i++)
		t[1 + i] = (uint8_t)(v >> (8 * (width - 1 - i)));
	mpw_raw(w, t, 1 + width);
}

void mpw_map(mpw *w, uint32_t n)
{
	if (n < 16) mpw_tag(w, (uint8_t)(0x80 | n), 0, 0);
	else if (n <= 0xffff) mpw_tag(w, 0xde, n, 2);
	else mpw_tag(w, 0xdf, n, 4);
}

void mpw_array(mpw *w, uint32_t n)
{
	if (n < 16) mpw_tag(w, (uint8_t)(0x90 | n), 0, 0);
	else if (n <= 0xffff) mpw_tag(w, 0xdc, n, 2);
	else mpw_tag(w, 0xdd, n, 4);
}

void mpw_str(mpw *w, const char *s, size_t n)
{
	if (n < 32) mpw_tag(w, (uint8_t)(0xa0 | n), 0, 0);
	else if (n < 0x100) mpw_tag(w, 0xd9, (uint32_t)n, 1);
	else if (n < 0x10000) mpw_tag(w, 0xda, (uint32_t)n, 2);
	else mpw_tag(w, 0xdb, (uint32_t)n, 4);
	mpw_raw(w, (const uint8_t *)s, n);
}

void mpw_bin(mpw *w, const uint8_t *p, size_t n)
{
	if (n < 0x100) mpw_tag(w, 0xc4, (uint32_t)n, 1);
	else if (n < 0x10000) mpw_tag(w, 0xc5, (uint32_t)n, 2);
	else mpw_tag(w, 0xc6, (uint32_t)n, 4);
	mpw_raw(w, p, n);
}

void mpw_uint(mpw *w, uint32_t v)
{
	if (v < 0x80) mpw_tag(w, (uint8_t)v, 0, 0);
	else if (v < 0x100) mpw_tag(w, 0xcc, v, 1);
	else if (v < 0x10000) mpw_tag(w, 0xcd, v, 2);
	else mpw_tag(w, 0xce, v, 4);
}

void mpw_bool(mpw *w, int v)
{
	mpw_tag(w, v ? 0xc3 : 0xc2, 0, 0);
}

/* ------------------------------------------------------------------ */
/* msgpack reader                                                      */

void mpr_init(mpr *r, const uint8_t *buf, size_t n)
{
	r->b = buf; r->n = n; r->pos = 0; r->err = 0;
}

static const uint8_t *take(mpr *r, size_t n)
{
	const uint8_t *p;
	if (r->err || n > r->n - r->pos) {
		r->err = 1;
		return NULL;
	}
	p = r->b + r->pos;
	r->pos += n;
	return p;
}

static int fail(mpr *r)
{
	r->err = 1;
	return -1;
}

/* Reads a tag byte; for tag in [lo, hi] (a "fix" range) the count is the
 * tag's low bits; for t8/t16/t32 it follows in 1, 2 or 4 bytes. */
static int rd_len(mpr *r, uint8_t lo, uint8_t hi, uint8_t mask, uint8_t t8,
                  uint8_t t16, uint8_t t32, uint32_t *n)
{
	const uint8_t *p = take(r, 1), *q;
	size_t w;
	if (!p) return -1;
	if (*p >= lo && *p <= hi) {
		*n = *p & mask;
		return 0;
	}
	if (t8 && *p == t8) w = 1;
	else if (*p == t16) w = 2;
	else if (*p == t32) w = 4;
	else return fail(r);
	if (!(q = take(r, w))) return -1;
	*n = (uint32_t)getbe(q, w);
	return 0;
}

int mpr_map(mpr *r, uint32_t *n)
{
	if (rd_len(r, 0x80, 0x8f, 0x0f, 0, 0xde, 0xdf, n)) return -1;
	/* every key and value takes at least one byte */
	if ((uint64_t)*n * 2 > r->n - r->pos) return fail(r);
	return 0;
}

int mpr_array(mpr *r, uint32_t *n)
{
	if (rd_len(r, 0x90, 0x9f, 0x0f, 0, 0xdc, 0xdd, n)) return -1;
	if (*n > r->n - r->pos) return fail(r);
	return 0;
}

int mpr_str(mpr *r, const uint8_t **p, uint32_t *n)
{
	if (rd_len(r, 0xa0, 0xbf, 0x1f, 0xd9, 0xda, 0xdb, n)) return -1;
	return (*p = take(r, *n)) ? 0 : -1;
}

int mpr_bin(mpr *r, const uint8_t **p, uint32_t *n)
{
	/* bin has no fix range: pass an empty one (lo > hi) */
	if (rd_len(r, 0xff, 0x00, 0, 0xc4, 0xc5, 0xc6, n)) return -1;
	return (*p = take(r, *n)) ? 0 : -1;
}

int mpr_uint(mpr *r, uint32_t max, uint32_t *v)
{
	const uint8_t *p = take(r, 1), *q;
	size_t w;
	uint64_t x;
	if (!p) return -1;
	if (*p <= 0x7f) {
		x = *p;
	} else if (*p >= 0xcc && *p <= 0xd3) {
		w = (size_t)1 << ((*p - 0xcc) & 3);   /* 1, 2, 4, 8 */
		if (!(q = take(r, w))) return -1;
		x = getbe(q, w);
		if (*p >= 0xd0 && (q[0] & 0x80)) return fail(r); /* negative */
	} else {
		return fail(r);
	}
	if (x > max) return fail(r);
	*v = (uint32_t)x;
	return 0;
}

/* Skips one value of any type without recursion: count the values still
 * owed; a container adds its elements to the count. */
int mpr_skip(mpr *r)
{
	uint64_t owed = 1;
	while (owed) {
		const uint8_t *p = take(r, 1), *q;
		uint8_t b;
		size_t skip = 0, lenw = 0;
		uint64_t kids = 0;
		if (!p) return -1;
		b = *p;
		owed--;
		if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
			/* fixint, nil, bool */
		} else if (b <= 0x8f) {
			kids = 2u * (b & 0x0f);
		} else if (b <= 0x9f) {
			kids = b & 0x0f;
		} else if (b <= 0xbf) {
			skip = b & 0x1f;
		} else {
			switch (b) {
			case 0xc4: case 0xd9: lenw = 1; break;
			case 0xc5: case 0xda: lenw = 2; break;
			case 0xc6: case 0xdb: lenw = 4; break;
			case 0xc7: lenw = 1; skip = 1; break;  /* ext: + type byte */
			case 0xc8: lenw = 2; skip = 1; break;
			case 0xc9: lenw = 4; skip = 1; break;
			case 0xca: skip = 4; break;
			case 0xcb: skip = 8; break;
			case 0xcc: case 0xd0: skip = 1; break;
			case 0xcd: case 0xd1: skip = 2; break;
			case 0xce: case 0xd2: skip = 4; break;
			case 0xcf: case 0xd3: skip = 8; break;
			case 0xd4: skip = 2; break;
			case 0xd5: skip = 3; break;
			case 0xd6: skip = 5; break;
			case 0xd7: skip = 9; break;
			case 0xd8: skip = 17; break;
			case 0xdc: case 0xdd:
				if (!(q = take(r, b == 0xdc ? 2 : 4))) return -1;
				kids = getbe(q, b == 0xdc ? 2 : 4);
				break;
			case 0xde: case 0xdf:
				if (!(q = take(r, b == 0xde ? 2 : 4))) return -1;
				kids = 2 * getbe(q, b == 0xde ? 2 : 4);
				break;
			default: /* 0xc1 */
				return fail(r);
			}
		}
		if (lenw) {
			if (!(q = take(r, lenw))) return -1;
			skip += (size_t)getbe(q, lenw);
		}
		if (skip && !take(r, skip)) return -1;
		owed += kids;
		if (owed > r->n - r->pos) return fail(r);
	}
	return 0;
}

int mpr_key(const uint8_t *k, uint32_t kn, const char *name)
{
	return strlen(name) == kn && memcmp(k, name, kn) == 0;
}

/* A body is empty (no fields) or one map that fills it (section 3). */
static int body_begin(mpr *r, const uint8_t *b, size_t n, uint32_t *fields)
{
	mpr_init(r, b, n);
	*fields = 0;
	return n ? mpr_map(r, fields) : 0;
}

static int body_end(const mpr *r)
{
	return r->err || r->pos != r->n ? -1 : 0;
}

/* ------------------------------------------------------------------ */
/* header (section 2)                                                  */

size_t pd_header(uint8_t *p, uint8_t type, uint8_t flags, uint32_t id)
{
	p[0] = 0x01; p[1] = type; p[2] = flags; p[3] = 0x00;
	put32(p + 4, id);
	return PD_HDR_LEN;
}

/* Section 2.4, step 2: the header checks, in the server's order (any order
 * would do for a client). */
static int parse_header(const uint8_t *p, size_t n, pd_packet *pk)
{
	if (n < PD_HDR_LEN) return -1;                  /* 100 */
	if (p[0] != 0x01) return -1;                    /* 101 */
	if (p[1] < PD_HELLO || p[1] > PD_BYE) return -1;  /* 102 */
	if ((p[2] & 0xf8) || (p[2] & 3) >= 2) return -1;  /* 106 */
	if (p[3] != 0) return -1;                       /* 106 */
	pk->type = p[1];
	pk->flags = p[2];
	pk->id = get32(p + 4);
	pk->body = p + PD_HDR_LEN;
	pk->body_len = n - PD_HDR_LEN;
	return 0;
}

uint32_t pd_new_id(pd_client *c)
{
	if (++c->next_id == 0)
		c->next_id = 1;
	return c->next_id;
}

void pd_init(pd_client *c, const pd_io *io, int udp)
{
	memset(c, 0, sizeof *c);
	c->io = io;
	c->udp = udp;
}

/* ------------------------------------------------------------------ */
/* sending                                                             */

static size_t prefix_len(const pd_client *c)
{
	return c->udp ? 8u : 4u;
}

static uint8_t *tx_packet(pd_client *c)
{
	return c->tx + prefix_len(c);
}

/* The largest packet we may send now. */
static size_t tx_limit(const pd_client *c)
{
	size_t lim = PD_TX_CAP - prefix_len(c);
	if (c->udp) {
		if (c->max_datagram && c->max_datagram - 8 < lim)
			lim = c->max_datagram - 8;
	} else if (!c->open) {
		if (lim > 1024) lim = 1024;   /* the limit until the HELLO (10.3) */
	} else if (c->max_frame && c->max_frame < lim) {
		lim = c->max_frame;
	}
	return lim;
}

/* Puts the transport's prefix in front of the packet at tx_packet() and
 * sends it. Over UDP the prefix is WELCOME's key, 0 before WELCOME. */
static int tx_send(pd_client *c, size_t len)
{
	if (len > tx_limit(c)) return PD_ETOOBIG;
	if (c->udp) {
		if (c->open) memcpy(c->tx, c->key, 8);
		else memset(c->tx, 0, 8);
	} else {
		put32(c->tx, (uint32_t)len);
	}
	if (c->io->send(c->io->ctx, c->tx, prefix_len(c) + len) != 0)
		return PD_EIO;
	c->last_tx_ms = c->io->now_ms(c->io->ctx);   /* any packet counts (7) */
	if (c->open) c->validate = 0;   /* this datagram validates us (6.4) */
	return PD_OK;
}

int pd_send_packet(pd_client *c, const uint8_t *pkt, size_t len)
{
	if (len > PD_TX_CAP - prefix_len(c)) return PD_ETOOBIG;
	memmove(tx_packet(c), pkt, len);
	return tx_send(c, len);
}

/* Starts a packet: header written, w ready for the body. */
static void tx_begin(pd_client *c, mpw *w, uint8_t type, uint32_t id)
{
	pd_header(tx_packet(c), type, 0, id);
	mpw_init(w, tx_packet(c) + PD_HDR_LEN, tx_limit(c) - PD_HDR_LEN);
}

static int tx_end(pd_client *c, const mpw *w)
{
	return w->err ? PD_ETOOBIG : tx_send(c, PD_HDR_LEN + w->n);
}

static int send_hello(pd_client *c, uint32_t keepalive)
{
	mpw w;
	uint32_t fields = (keepalive ? 1u : 0u) + (c->udp ? 1u : 0u) +
	                  (c->auth_user ? 1u : 0u) + (c->auth_pass ? 1u : 0u) +
	                  (c->auth_token ? 1u : 0u);
	tx_begin(c, &w, PD_HELLO, c->nonce);
	if (fields) mpw_map(&w, fields);
	if (keepalive) {
		mpw_str(&w, "keepalive", 9);
		mpw_uint(&w, keepalive);
	}
	if (c->auth_user) {
		mpw_str(&w, "user", 4);
		mpw_str(&w, c->auth_user, strlen(c->auth_user));
	}
	if (c->auth_pass) {
		mpw_str(&w, "pass", 4);
		mpw_str(&w, c->auth_pass, strlen(c->auth_pass));
	}
	if (c->auth_token) {
		mpw_str(&w, "token", 5);
		mpw_str(&w, c->auth_token, strlen(c->auth_token));
	}
	if (c->udp) {
		/* section 6.2: prefix + header + body >= 64 bytes; the pad
		 * itself costs a 4-byte key and a 2-byte bin8 header */
		size_t have = 8 + PD_HDR_LEN + w.n + 4 + 2, n = 0;
		static const uint8_t zeros[PD_HELLO_MIN];
		if (have < PD_HELLO_MIN) n = PD_HELLO_MIN - have;
		mpw_str(&w, "pad", 3);
		mpw_bin(&w, zeros, n);
	}
	return tx_end(c, &w);
}

static int send_rooms(pd_client *c, uint8_t type, uint32_t id, const char *room)
{
	mpw w;
	tx_begin(c, &w, type, id);
	mpw_map(&w, 1);
	mpw_str(&w, "rooms", 5);
	mpw_array(&w, 1);
	mpw_str(&w, room, strlen(room));
	return tx_end(c, &w);
}

static int send_ping(pd_client *c, uint32_t id, const uint8_t *tok, size_t tn)
{
	mpw w;
	tx_begin(c, &w, PD_PING, id);
	if (tn) {
		mpw_map(&w, 1);
		mpw_str(&w, "token", 5);
		mpw_bin(&w, tok, tn);
	}
	return tx_end(c, &w);
}

/* ------------------------------------------------------------------ */
/* receiving                                                           */

static uint32_t elapsed(pd_client *c, uint32_t since)
{
	return c->io->now_ms(c->io->ctx) - since;   /* wraps correctly */
}

/* TCP: the server broke the protocol; the caller closes the connection. */
static int broken(pd_client *c)
{
	c->open = 0;
	c->nonce = 0;
	return PD_EPROTO;
}

int pd_recv(pd_client *c, pd_packet *pk, uint32_t timeout_ms)
{
	uint32_t start = c->io->now_ms(c->io->ctx);
	for (;;) {
		uint32_t el = elapsed(c, start);
		uint32_t left = el >= timeout_ms ? 0 : timeout_ms - el;
		long n;
		if (c->udp) {
			n = c->io->recv(c->io->ctx, c->rx, PD_RX_CAP, left);
			if (n == 0) return PD_TIMEOUT;
			if (n < 0) return PD_CLOSED;
			/* a datagram that fills the buffer may have been cut
			 * short by the socket: drop it (section 12), like one
			 * whose header fails (section 2.4) */
			if ((size_t)n < PD_RX_CAP &&
			    parse_header(c->rx, (size_t)n, pk) == 0)
				return PD_OK;
			continue;
		}
		/* TCP: drop the frame returned last time, then an oversized
		 * frame's bytes, then look for one whole frame (section 5.1) */
		if (c->rx_used) {
			c->rx_len -= c->rx_used;
			memmove(c->rx, c->rx + c->rx_used, c->rx_len);
			c->rx_used = 0;
		}
		if (c->rx_discard && c->rx_len) {
			size_t d = c->rx_discard < c->rx_len ? c->rx_discard : c->rx_len;
			c->rx_len -= d;
			memmove(c->rx, c->rx + d, c->rx_len);
			c->rx_discard -= (uint32_t)d;
		}
		if (!c->rx_discard && c->rx_len >= 4) {
			uint32_t len = get32(c->rx);
			if (len < PD_HDR_LEN) return broken(c);
			if (len > PD_RX_CAP - 4) {    /* too big for us: skip it (12) */
				c->rx_used = 4;
				c->rx_discard = len;
				continue;
			}
			if (c->rx_len >= 4 + (size_t)len) {
				c->rx_used = 4 + (size_t)len;
				if (parse_header(c->rx + 4, len, pk) != 0)
					return broken(c);  /* section 12: close */
				return PD_OK;
			}
		}
		if (!left) return PD_TIMEOUT;
		n = c->io->recv(c->io->ctx, c->rx + c->rx_len, PD_RX_CAP - c->rx_len, left);
		if (n == 0) return PD_TIMEOUT;
		if (n < 0) return PD_CLOSED;
		c->rx_len += (size_t)n;
	}
}

static void copy_str(char *dst, size_t cap, const uint8_t *p, uint32_t n)
{
	if (n >= cap) n = (uint32_t)cap - 1;
	memcpy(dst, p, n);
	dst[n] = 0;
}

static int hexval(uint8_t ch)
{
	if (ch >= '0' && ch <= '9') return ch - '0';
	if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
	return -1;   /* sections 4.2 and 6.3: lowercase only */
}

static int parse_welcome(pd_client *c, const pd_packet *pk)
{
	mpr r;
	uint32_t n, kn, vn, i, ka = 0, mf = 0, md = 0, mr = 0;
	const uint8_t *k, *v, *sid = NULL, *srv = NULL, *key = NULL;
	uint32_t srvn = 0;
	if (body_begin(&r, pk->body, pk->body_len, &n)) return -1;
	for (i = 0; i < n && !r.err; i++) {
		if (mpr_str(&r, &k, &kn)) break;
		if (mpr_key(k, kn, "sid")) {
			if (mpr_str(&r, &sid, &vn) || vn != 17) return -1;
		} else if (mpr_key(k, kn, "key")) {
			if (mpr_bin(&r, &key, &vn) || vn != 8) return -1;
		} else if (mpr_key(k, kn, "keepalive")) mpr_uint(&r, 0xffffffffu, &ka);
		else if (mpr_key(k, kn, "max_frame")) mpr_uint(&r, 0xffffffffu, &mf);
		else if (mpr_key(k, kn, "max_datagram")) mpr_uint(&r, 0xffffffffu, &md);
		else if (mpr_key(k, kn, "max_rooms")) mpr_uint(&r, 0xffffffffu, &mr);
		else if (mpr_key(k, kn, "server")) {
			if (mpr_str(&r, &v, &vn) == 0) { srv = v; srvn = vn; }
		} else mpr_skip(&r);
	}
	if (body_end(&r) || !sid || sid[0] != '$') return -1;
	for (i = 1; i < 17; i++)
		if (hexval(sid[i]) < 0) return -1;
	/* UDP: the key, never 0, prefixes our datagrams (6.3); TCP has none */
	if (c->udp && (!key || getbe(key, 8) == 0)) return -1;
	if (md && md < PD_HDR_LEN + 8) return -1;
	/* "The server always sends it" (4.2); should one not, keep what we
	 * asked for, or the default 60 s (section 7) */
	if (!ka) ka = c->keepalive ? c->keepalive : PD_KEEPALIVE_DEFAULT;
	copy_str(c->sid, sizeof c->sid, sid, 17);
	if (key) memcpy(c->key, key, 8);
	c->keepalive = ka; c->max_frame = mf; c->max_datagram = md; c->max_rooms = mr;
	copy_str(c->server, sizeof c->server, srv ? srv : (const uint8_t *)"", srvn);
	return 0;
}

/* ERROR {code, msg} and BYE {code, msg}: code required for ERROR. */
static int parse_code(pd_client *c, const pd_packet *pk, uint32_t *code)
{
	mpr r;
	uint32_t n, kn, vn, i;
	const uint8_t *k, *v;
	int have = 0;
	*code = 0;
	c->close_msg[0] = 0;
	if (body_begin(&r, pk->body, pk->body_len, &n)) return -1;
	for (i = 0; i < n && !r.err; i++) {
		if (mpr_str(&r, &k, &kn)) break;
		if (mpr_key(k, kn, "code")) {
			have = mpr_uint(&r, 0xffff, code) == 0;
		} else if (mpr_key(k, kn, "msg")) {
			if (mpr_str(&r, &v, &vn) == 0)
				copy_str(c->close_msg, sizeof c->close_msg, v, vn);
		} else mpr_skip(&r);
	}
	if (body_end(&r)) return -1;
	if (pk->type == PD_ERROR && (!have || *code == 0)) return -1;
	return 0;
}

/* PING/PONG {token}: returns the token (NULL, 0 if absent). */
static int parse_token(const pd_packet *pk, const uint8_t **tok, uint32_t *tn)
{
	mpr r;
	uint32_t n, kn, i;
	const uint8_t *k;
	*tok = NULL; *tn = 0;
	if (body_begin(&r, pk->body, pk->body_len, &n)) return -1;
	for (i = 0; i < n && !r.err; i++) {
		if (mpr_str(&r, &k, &kn)) break;
		if (mpr_key(k, kn, "token")) {
			if (mpr_bin(&r, tok, tn) || *tn > PD_TOKEN_MAX) return -1;
		} else mpr_skip(&r);
	}
	return body_end(&r);
}

static int parse_message(const pd_packet *pk, pd_message *m)
{
	mpr r;
	uint32_t n, kn, i, j, an, sn;
	const uint8_t *k, *s;
	size_t at;
	memset(m, 0, sizeof *m);
	m->id = pk->id;
	if (body_begin(&r, pk->body, pk->body_len, &n)) return -1;
	for (i = 0; i < n && !r.err; i++) {
		if (mpr_str(&r, &k, &kn)) break;
		at = r.pos;
		if (mpr_key(k, kn, "rooms")) {
			if (mpr_array(&r, &an)) break;
			for (j = 0; j < an; j++)
				if (mpr_str(&r, &s, &sn)) break;
			m->rooms.p = r.b + at;
			m->rooms.n = (uint32_t)(r.pos - at);
		} else if (mpr_key(k, kn, "from")) {
			mpr_str(&r, &m->from.p, &m->from.n);
		} else if (mpr_key(k, kn, "event")) {
			mpr_str(&r, &m->event.p, &m->event.n);
		} else if (mpr_key(k, kn, "data")) {
			if (mpr_skip(&r) == 0) {
				m->data.p = r.b + at;
				m->data.n = (uint32_t)(r.pos - at);
			}
		} else mpr_skip(&r);
	}
	if (body_end(&r) || !m->rooms.p || !m->from.p) return -1;
	return 0;
}

static int end_session(pd_client *c, uint8_t type, uint32_t code, uint32_t id)
{
	c->open = 0;
	c->nonce = 0;
	c->close_type = type;
	c->close_code = code;
	c->err_id = id;
	return PD_CLOSED;
}

/* A server body we cannot parse: over TCP the stream is suspect, close;
 * over UDP drop the datagram (section 12; the server does the same, 6.7). */
static int bad_body(pd_client *c)
{
	return c->udp ? PD_OK : broken(c);
}

static int handle(pd_client *c, const pd_packet *pk)
{
	const uint8_t *tok;
	uint32_t tn, code;
	pd_message m;
	switch (pk->type) {
	case PD_WELCOME:
		/* section 6.2: only the WELCOME to our current nonce, and only
		 * while pd_hello() waits for it; once the session is open every
		 * WELCOME (a duplicate, the answer to a resent HELLO) is ignored */
		if (c->open || !c->nonce || pk->id != c->nonce) {
			c->stray_welcomes++;
			return PD_OK;
		}
		if (parse_welcome(c, pk)) return bad_body(c);
		c->open = 1;
		c->nonce = 0;
		c->validate = c->udp;
		return PD_OK;
	case PD_PING:
		/* a valid PING: answer at once, same id, body copied byte for
		 * byte; an invalid one gets no PONG (4.7) */
		if (parse_token(pk, &tok, &tn)) return bad_body(c);
		{
			size_t len = PD_HDR_LEN + pk->body_len;
			if (len > PD_TX_CAP - prefix_len(c)) return PD_OK;
			memmove(tx_packet(c) + PD_HDR_LEN, pk->body, pk->body_len);
			pd_header(tx_packet(c), PD_PONG, 0, pk->id);
			c->server_pings++;
			return tx_send(c, len);
		}
	case PD_PONG:
		/* the answer to pd_ping()'s PING: its id and, if it set one,
		 * its token (4.7); any other PONG answers no PING: ignored */
		if (parse_token(pk, &tok, &tn)) return bad_body(c);
		if (c->ping_id && pk->id == c->ping_id && (c->token_len == 0 ||
		    (tn == c->token_len && memcmp(tok, c->token, tn) == 0)))
			c->pong_id = pk->id;
		return PD_OK;
	case PD_ACK:
		c->ans_id = pk->id;
		c->ans_code = 0;
		return PD_OK;
	case PD_ERROR:
		if (parse_code(c, pk, &code)) return bad_body(c);
		if (code >= 200 && code <= 299) {
			/* one request failed (200-205, and any other code of
			 * the range, section 9); the session goes on */
			c->ans_id = pk->id;
			c->ans_code = code;
			return PD_OK;
		}
		if (c->udp && !c->open && (code == 305 || code == 302)) {
			/* about a session that has ended (the ERROR 305 our
			 * second BYE gets, 4.9; a late 302): no session is open,
			 * and a HELLO behind session id 0 never gets them */
			c->stale_errors++;
			c->stale_code = code;
			return PD_OK;
		}
		return end_session(c, PD_ERROR, code, pk->id);
	case PD_BYE:
		if (parse_code(c, pk, &code)) code = 0;
		return end_session(c, PD_BYE, code, 0);
	case PD_MESSAGE:
		if (parse_message(pk, &m)) return bad_body(c);
		if (c->on_message) c->on_message(c, &m);
		return PD_OK;
	default:   /* HELLO, JOIN, LEAVE, EMIT: never sent by a server */
		return PD_OK;
	}
}

int pd_service(pd_client *c, uint32_t timeout_ms)
{
	pd_packet pk;
	int rc;
	uint32_t wait = timeout_ms;
	if (c->open) {
		/* section 7: a PING when we have sent nothing for half the
		 * keepalive (a choice well under it, room for one lost PING);
		 * section 6.4: at once, over UDP, if nothing went out since
		 * WELCOME. It needs no PONG and is not resent. */
		uint32_t ka = c->keepalive ? c->keepalive : PD_KEEPALIVE_DEFAULT;
		uint32_t every = ka > 0xffffffffu / 500u ? 0xffffffffu : ka * 500u;
		uint32_t since = elapsed(c, c->last_tx_ms);
		if (c->validate || since >= every) {
			if ((rc = send_ping(c, pd_new_id(c), NULL, 0)) != PD_OK) return rc;
		} else if (every - since < wait) {
			wait = every - since;
		}
	}
	rc = pd_recv(c, &pk, wait);
	return rc == PD_OK ? handle(c, &pk) : rc;
}

/* ------------------------------------------------------------------ */
/* requests: one retransmission schedule (section 6.6)                 */

/* A request that waits for its answer: HELLO, JOIN, LEAVE, or a PING that
 * checks the server is alive. Resending rebuilds it from these fields: the
 * same id and byte for byte the same body (the tx buffer is shared with
 * the PONGs pd_service sends meanwhile). */
typedef struct {
	uint8_t type;
	uint32_t id;
	const char *room;     /* JOIN, LEAVE */
	uint32_t keepalive;   /* HELLO */
} request;

static int rq_send(pd_client *c, const request *rq)
{
	switch (rq->type) {
	case PD_HELLO: return send_hello(c, rq->keepalive);
	case PD_PING: return send_ping(c, rq->id, c->token, c->token_len);
	default: return send_rooms(c, rq->type, rq->id, rq->room);
	}
}

/* 1: answered, 0: not yet. Further answers to other copies are ignored:
 * HELLO's by handle(), the others because the next request has a new id. */
static int rq_done(const pd_client *c, const request *rq)
{
	switch (rq->type) {
	case PD_HELLO: return c->open;
	case PD_PING: return c->pong_id == rq->id;
	default: return c->ans_id == rq->id;
	}
}

/* Sends rq and waits for its answer. UDP: the next copy is due 1, 2, 4, 8 s
 * after the one before (at 1, 3, 7 and 15 s), and after the 5th send we
 * wait 16 s more and give up, 31 s after the first. TCP: one send and the
 * same 31 s bound (section 6.6: "MAY bound its wait ... the same way"). */
static int transact(pd_client *c, const request *rq)
{
	uint32_t start = c->io->now_ms(c->io->ctx);
	uint32_t due = 0;                     /* next event, ms after start */
	uint32_t wait = PD_RETRY_FIRST_MS;
	unsigned sends = 0, max = c->udp ? PD_RETRY_SENDS : 1u;
	int rc;
	for (;;) {
		uint32_t el = elapsed(c, start);
		if (el >= due) {
			if (sends == max) return PD_TIMEOUT;
			if ((rc = rq_send(c, rq)) != PD_OK) return rc;
			sends++;
			due = c->udp ? due + wait : PD_RETRY_GIVEUP_MS;
			wait *= 2;
			continue;
		}
		rc = pd_service(c, due - el);
		if (rc != PD_OK && rc != PD_TIMEOUT) return rc;
		if (rq_done(c, rq)) return PD_OK;
	}
}

int pd_hello(pd_client *c, uint32_t keepalive)
{
	request rq;
	int rc;
	c->open = 0;
	c->validate = 0;
	c->keepalive = keepalive;   /* what we ask for, until WELCOME says */
	do c->nonce = c->io->random32(c->io->ctx); while (c->nonce == 0);
	rq.type = PD_HELLO; rq.id = c->nonce; rq.room = NULL; rq.keepalive = keepalive;
	rc = transact(c, &rq);
	c->nonce = 0;   /* a WELCOME from now on is not awaited (6.2) */
	return rc;
}

int pd_join(pd_client *c, int type, const char *room)
{
	request rq;
	int rc;
	rq.type = (uint8_t)type; rq.id = pd_new_id(c); rq.room = room; rq.keepalive = 0;
	c->ans_id = 0;
	rc = transact(c, &rq);
	if (rc == PD_OK && c->ans_code) return PD_EREJECT;
	return rc;
}

int pd_emit(pd_client *c, const char *room, const char *event,
            const uint8_t *data, size_t data_len)
{
	mpw w;
	size_t en = event ? strlen(event) : 0;
	tx_begin(c, &w, PD_EMIT, pd_new_id(c));
	mpw_map(&w, 1u + (en ? 1u : 0u) + (data ? 1u : 0u));
	mpw_str(&w, "rooms", 5);
	mpw_array(&w, 1);
	mpw_str(&w, room, strlen(room));
	if (en) {
		mpw_str(&w, "event", 5);
		mpw_str(&w, event, en);
	}
	if (data) {
		mpw_str(&w, "data", 4);
		mpw_raw(&w, data, data_len);
	}
	return tx_end(c, &w);
}

int pd_ping(pd_client *c, const uint8_t *token, size_t token_len)
{
	request rq;
	int rc;
	if (token_len > PD_TOKEN_MAX) return PD_ETOOBIG;
	if (token_len) memcpy(c->token, token, token_len);
	c->token_len = (uint8_t)token_len;
	rq.type = PD_PING; rq.id = pd_new_id(c); rq.room = NULL; rq.keepalive = 0;
	c->ping_id = rq.id;
	c->pong_id = 0;
	rc = transact(c, &rq);
	c->ping_id = 0;   /* later PONGs answer no PING of ours */
	return rc;
}

int pd_bye(pd_client *c)
{
	/* Section 4.9: over UDP a BYE may be lost, so it goes twice; if the
	 * first arrived, the second gets ERROR 305, which handle() ignores
	 * now that no session is open. Over TCP the server closes. */
	int rc = PD_OK, n = c->udp ? 2 : 1;
	pd_header(tx_packet(c), PD_BYE, 0, 0);
	while (n-- && rc == PD_OK)
		rc = tx_send(c, PD_HDR_LEN);
	c->open = 0;
	c->nonce = 0;
	c->validate = 0;
	return rc;
}
