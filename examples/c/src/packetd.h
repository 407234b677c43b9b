/*
 * packetd.h - a minimal packetd protocol version 1 client library, written
 * from docs/PROTOCOL.md alone.
 *
 * C99, no malloc, no external msgpack library. The library never touches a
 * socket: the application supplies a pd_io (send / receive-with-timeout /
 * clock / random), as it would for a modem or a radio. One pd_client holds
 * every byte of state; declare it static.
 */
#ifndef PACKETD_H
#define PACKETD_H

#include <stddef.h>
#include <stdint.h>

/* ---- sizes (sections 10.1 and 10.2) ---- */
#define PD_HDR_LEN 8u
#define PD_UDP_MAX 1152u      /* default max_datagram, prefix included */
#define PD_HELLO_MIN 64u      /* UDP HELLO datagram minimum, prefix included */
#define PD_TX_CAP PD_UDP_MAX  /* prefix (4 or 8) + the largest packet we send */
#define PD_RX_CAP 1536u       /* TCP: 4 + packet; UDP: one datagram of at most
                                 PD_RX_CAP - 1 bytes (a full buffer may hold
                                 a truncated one and is dropped, section 12) */
#define PD_TOKEN_MAX 64u
#define PD_KEEPALIVE_DEFAULT 60u  /* seconds, section 7 */

/* ---- the one retransmission schedule (sections 6.6 and 10.1) ----
 * UDP: send, wait 1 s, resend the same datagram, doubling the wait: sends at
 * 0, 1, 3, 7 and 15 s, give up at 31 s. HELLO, JOIN, LEAVE and pd_ping().
 * TCP: one send, and the same 31 s bound on the wait for the answer. */
#define PD_RETRY_FIRST_MS 1000u
#define PD_RETRY_SENDS 5u
#define PD_RETRY_GIVEUP_MS 31000u

/* ---- packet types (section 2.2) ---- */
enum {
	PD_HELLO = 0x01, PD_WELCOME, PD_JOIN, PD_LEAVE, PD_EMIT, PD_MESSAGE,
	PD_ACK, PD_PING, PD_PONG, PD_ERROR, PD_BYE
};

/* ---- results ---- */
enum {
	PD_OK = 0,
	PD_TIMEOUT = -1,  /* nothing (relevant) arrived in time */
	PD_CLOSED = -2,   /* session over: BYE, fatal ERROR, or transport end */
	PD_EPROTO = -3,   /* TCP: the server sent bytes that break the protocol
	                     (section 12): close the connection */
	PD_EREJECT = -4,  /* the request was answered with ERROR 200-299 */
	PD_ETOOBIG = -5,  /* the packet would not fit the buffer or the limit */
	PD_EIO = -6       /* the transport failed to send */
};

/* ---- msgpack subset ---- */
typedef struct { uint8_t *b; size_t cap, n; int err; } mpw;
typedef struct { const uint8_t *b; size_t n, pos; int err; } mpr;

void mpw_init(mpw *w, uint8_t *buf, size_t cap);
void mpw_map(mpw *w, uint32_t n);
void mpw_array(mpw *w, uint32_t n);
void mpw_str(mpw *w, const char *s, size_t n);
void mpw_bin(mpw *w, const uint8_t *p, size_t n);
void mpw_uint(mpw *w, uint32_t v);
void mpw_bool(mpw *w, int v);
void mpw_raw(mpw *w, const uint8_t *p, size_t n);

void mpr_init(mpr *r, const uint8_t *buf, size_t n);
int mpr_map(mpr *r, uint32_t *n);
int mpr_array(mpr *r, uint32_t *n);
int mpr_str(mpr *r, const uint8_t **p, uint32_t *n);
int mpr_bin(mpr *r, const uint8_t **p, uint32_t *n);
int mpr_uint(mpr *r, uint32_t max, uint32_t *v);
int mpr_skip(mpr *r); /* one value of any type, iteratively */
int mpr_key(const uint8_t *k, uint32_t kn, const char *name);

/* ---- transport, supplied by the application ---- */
typedef struct pd_io {
	void *ctx;
	/* Send one TCP chunk or one UDP datagram. 0 on success. */
	int (*send)(void *ctx, const uint8_t *buf, size_t len);
	/* Wait up to timeout_ms for bytes (TCP) or one datagram from the
	 * server's address (UDP). >0: bytes stored; 0: timeout; <0: the
	 * connection ended or failed. */
	long (*recv)(void *ctx, uint8_t *buf, size_t cap, uint32_t timeout_ms);
	uint32_t (*now_ms)(void *ctx);
	uint32_t (*random32)(void *ctx);
} pd_io;

typedef struct { const uint8_t *p; uint32_t n; } pd_span;

/* A received packet; the pointers are valid until the next receive. */
typedef struct {
	uint8_t type, flags;
	uint32_t id;
	const uint8_t *body;
	size_t body_len;
} pd_packet;

typedef struct {
	uint32_t id;
	pd_span rooms;  /* the raw msgpack array */
	pd_span from, event, data; /* data.p == NULL: absent */
} pd_message;

typedef struct pd_client pd_client;
typedef void (*pd_message_fn)(pd_client *c, const pd_message *m);

struct pd_client {
	const pd_io *io;
	int udp;
	int open;
	char sid[18];          /* "$" + 16 hex digits + NUL: public (4.2) */
	uint8_t key[8];        /* UDP: WELCOME's key, the secret datagram
	                          prefix (6.3); never the sid */
	uint32_t keepalive, max_frame, max_datagram, max_rooms;
	char server[32];
	uint32_t next_id;
	uint32_t nonce;        /* the HELLO's id while pd_hello() waits for its
	                          WELCOME; 0 (never a nonce) the rest of the time */
	uint32_t last_tx_ms;   /* section 7: keepalive counts from our last send */
	int validate;          /* UDP: WELCOME accepted, nothing sent since (6.4) */
	/* the outcome of the latest requests, set by pd_service() */
	uint32_t ans_id, ans_code;      /* ACK (code 0) or ERROR 200-299 for ans_id */
	uint32_t ping_id, pong_id;      /* pd_ping()'s PING; the id of its PONG */
	uint32_t server_pings;          /* PINGs from the server we answered */
	uint32_t stray_welcomes;        /* WELCOMEs ignored: not awaited (6.2) */
	uint32_t stale_errors, stale_code; /* UDP ERROR 302/305 ignored while no
	                                   session is open (our second BYE's) */
	uint8_t close_type;             /* PD_BYE or PD_ERROR that ended us */
	uint32_t close_code;            /* its code */
	uint32_t err_id;                /* the id of that ERROR */
	char close_msg[64];
	pd_message_fn on_message;
	void *user;
	/* Credentials sent in the HELLO (section 4.1.1), NUL-terminated, or
	 * NULL: a user of the server's credentials file and its password, or
	 * a token (JWT). Set them after pd_init(). Refused: pd_hello() gives
	 * PD_CLOSED with close_code 308 (309: too many attempts, wait). */
	const char *auth_user, *auth_pass, *auth_token;
	uint8_t token[PD_TOKEN_MAX]; uint8_t token_len; /* of pd_ping()'s PING */
	/* receive side */
	size_t rx_len, rx_used;  /* TCP: bytes buffered, bytes of the last frame */
	uint32_t rx_discard;     /* TCP: bytes of an oversized frame still to drop */
	uint8_t rx[PD_RX_CAP];
	uint8_t tx[PD_TX_CAP];
};

void pd_init(pd_client *c, const pd_io *io, int udp);

/* The requests below block until their answer, on the schedule above:
 * PD_TIMEOUT when it gives up (the server is unreachable: start a new
 * session after a back-off, section 9), PD_CLOSED when the session ends
 * meanwhile (close_type and close_code say why). */

/* Open the session: HELLO with a new nonce (UDP: padded to 64 bytes), then
 * WELCOME. Over UDP, send something at once (pd_join, or pd_ping) so the
 * server validates the address; pd_service() sends a PING otherwise. */
int pd_hello(pd_client *c, uint32_t keepalive);
/* JOIN (or LEAVE) one room and wait for the ACK; PD_EREJECT on ERROR
 * 200-299 (ans_code). room must stay valid until the call returns. */
int pd_join(pd_client *c, int type, const char *room);
/* EMIT to one room; data is one encoded msgpack value, or NULL. Never
 * resent; success gets no answer, failure an ERROR 200-299 with its id,
 * later, through pd_service() (205: the MESSAGE, 23 bytes more than this
 * EMIT, would exceed max_frame). */
int pd_emit(pd_client *c, const char *room, const char *event,
            const uint8_t *data, size_t data_len);
/* PING, a liveness check: wait for the PONG with its id and, if token_len
 * is not 0, that token. */
int pd_ping(pd_client *c, const uint8_t *token, size_t token_len);
/* BYE with an empty body; over UDP sent twice, since one may be lost
 * (section 4.9). The ERROR 305 the second copy may get is ignored. */
int pd_bye(pd_client *c);

/* Receive and handle at most one packet: answer PINGs, deliver MESSAGEs
 * to on_message, record ACK/ERROR/PONG, note BYE and fatal ERRORs; send a
 * keepalive PING when due (half the keepalive after our last send), or at
 * once over UDP if nothing was sent since WELCOME. PD_OK if a packet was
 * handled (or ignored). */
int pd_service(pd_client *c, uint32_t timeout_ms);
/* Receive one packet whose header is valid, nothing more. */
int pd_recv(pd_client *c, pd_packet *pk, uint32_t timeout_ms);

/* Low level, for tests and tools: send a packet already encoded (header and
 * body) behind the transport's prefix. */
int pd_send_packet(pd_client *c, const uint8_t *pkt, size_t len);
size_t pd_header(uint8_t *p, uint8_t type, uint8_t flags, uint32_t id);
uint32_t pd_new_id(pd_client *c);

#endif
