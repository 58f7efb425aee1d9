#ifndef PHIGUARD_SPOOL_H
#define PHIGUARD_SPOOL_H
/* The audit spool: a write-ahead log, one append-only file per chain, so a
 * record survives a Redis outage or a kill -9 of the proxy.
 *
 * <dir>/<chain>.spool holds frames: u32 length (little-endian, its top bit
 * set), then length bytes of payload (u64 seq, little-endian, and the
 * record's exact bytes), then the CRC-32C of the payload. Frames written
 * before CRC-32C (top bit clear) carry zlib's CRC-32 and are still read. <dir>/<chain>.cursor holds
 * "<seq> <h>\n", the last record Redis acknowledged, replaced atomically
 * (write a temporary file, fsync, rename).
 *
 * Threads: add, flush, append, trim, replay and close belong to the
 * chain's loop thread; pg_spool_sync (the fdatasync) is meant for the work queue, and
 * pg_spool_request_sync puts it there with group commit: one sync at a
 * time, each covering everything appended before it began. */
#include <event2/event.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "policy/chain.h"

#define PG_SPOOL_MAX_RECORD (1u << 20)

enum pg_spool_error {
    PG_SPOOL_OK = 0,
    PG_SPOOL_FULL,    /* ENOSPC, EDQUOT, EFBIG: no room; fail closed */
    PG_SPOOL_DENIED,  /* EACCES, EPERM, EROFS: not writable; fail closed */
    PG_SPOOL_IO,      /* any other I/O error */
    PG_SPOOL_CORRUPT, /* a bad frame before the end of the file */
    PG_SPOOL_INVALID, /* a caller error: seq out of order, record too large */
};

struct pg_spool;

/* What opening found: the chain continues after last_seq/last_h. */
struct pg_spool_recovery {
    uint64_t first_seq, last_seq; /* the records in the file (0, 0 when none) */
    char last_h[PG_HASH_HEX];     /* h of last_seq; "" when the chain has no record yet */
    uint64_t acked_seq;           /* from the cursor */
    uint64_t torn_bytes;          /* cut from the end: a write the crash interrupted */
};

/* Opens (creating when absent) the spool of chain under dir and recovers
 * it. 0, or -1 with *code and the reason in err. */
int pg_spool_open(const char *dir, const char *chain, struct pg_spool **out, struct pg_spool_recovery *rec,
                  enum pg_spool_error *code, char *err, size_t errlen);
void pg_spool_close(struct pg_spool *sp);

/* Adds record seq (which must be the last seq + 1, or any seq in an empty
 * spool with no cursor) to the frames written by the next pg_spool_flush:
 * a writer sealing many records in one pass of its loop writes them with
 * one write(2). Until then they are in memory only: a sync does not cover
 * them. */
enum pg_spool_error pg_spool_add(struct pg_spool *sp, uint64_t seq, const char *bytes, size_t len);
/* Bytes added and not written yet. */
size_t pg_spool_buffered(const struct pg_spool *sp);
/* Writes the added frames. On failure the file is cut back to where it was
 * and the spool forgets every frame added since the last flush, so their
 * seqs can be added again. */
enum pg_spool_error pg_spool_flush(struct pg_spool *sp);
/* pg_spool_add and pg_spool_flush of one record (with nothing else added). */
enum pg_spool_error pg_spool_append(struct pg_spool *sp, uint64_t seq, const char *bytes, size_t len);

/* fdatasync; returns the seq now durable (everything appended before the
 * call), or sets *code. Any thread. */
uint64_t pg_spool_sync(struct pg_spool *sp, enum pg_spool_error *code);

/* Group commit on the work queue: done runs on base with the durable seq
 * after each sync; a sync asked for while one runs follows it at once
 * (when more was appended meanwhile). When to ask is the caller's: the
 * audit writer asks at most every few milliseconds. */
typedef void (*pg_spool_durable_fn)(struct pg_spool *sp, uint64_t durable_seq, enum pg_spool_error code, void *arg);
void pg_spool_on_durable(struct pg_spool *sp, struct event_base *base, pg_spool_durable_fn done, void *arg);
int pg_spool_request_sync(struct pg_spool *sp);
uint64_t pg_spool_durable_seq(struct pg_spool *sp);
/* A sync is on the work queue (its done has not run yet). */
bool pg_spool_sync_in_flight(const struct pg_spool *sp);

/* Records that Redis stored seq (whose hash is h), which may be past the
 * file's last record (async mode: records the file could not take went to
 * Redis from memory). Blocking (a small file, fsync, rename): call it off
 * the loop. */
enum pg_spool_error pg_spool_ack(struct pg_spool *sp, uint64_t seq, const char *h);
/* Empties the file when every record in it is acknowledged (the cursor
 * then carries the chain's tip); when the cursor is past the file's last
 * record, the next record after the cursor may be added. Loop thread, no
 * sync in flight. */
enum pg_spool_error pg_spool_trim(struct pg_spool *sp);

struct pg_spool_stats {
    uint64_t syncs, synced_records, largest_batch;
};
void pg_spool_stats(struct pg_spool *sp, struct pg_spool_stats *out);

/* The last error in words (names the file, never record content). */
const char *pg_spool_strerror(struct pg_spool *sp);
enum pg_spool_error pg_spool_error_of_errno(int err);
/* CRC-32C (Castagnoli) of n bytes, as the spool's frames carry it. */
uint32_t pg_spool_crc32c(const void *p, size_t n);
/* The same by table, as on CPUs without the instruction. */
uint32_t pg_spool_crc32c_table(const void *p, size_t n);

/* Replay of the records from seq on, in order. */
struct pg_spool_iter;
struct pg_spool_iter *pg_spool_replay(struct pg_spool *sp, uint64_t from_seq);
/* 1 with the next record (bytes valid until the next call), 0 at the end,
 * -1 on a read error or a bad frame. */
int pg_spool_next(struct pg_spool_iter *it, uint64_t *seq, const char **bytes, size_t *len);
void pg_spool_iter_free(struct pg_spool_iter *it);

#endif
