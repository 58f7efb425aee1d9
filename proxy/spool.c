#include "proxy/spool.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "proxy/workq.h"

#define FRAME_HEAD 4u /* u32 payload length, and CRC32C_FLAG */
/* Set in the length word: the frame's check is CRC-32C (Castagnoli), which
 * x86-64 computes with one instruction per 8 bytes; zlib's CRC-32, ~5x
 * slower, was a visible part of each record's cost. Frames without it (files
 * written before) carry zlib's CRC-32 and are read as ever. Lengths never
 * reach this bit (PG_SPOOL_MAX_RECORD). */
#define CRC32C_FLAG 0x80000000u
#define FRAME_TAIL 4u /* u32 CRC-32 of the payload */
#define SEQ_LEN 8u

struct pg_spool {
    int fd;
    char *path, *cursor_path;
    off_t size;         /* bytes of whole frames in the file */
    uint64_t first_seq; /* 0 when the file holds no frame */
    uint64_t last_seq;  /* the chain's tip, from the file or the cursor */
    bool any_seq_ok;    /* a new chain: the first append may pick its seq */
    uint64_t acked_seq;
    _Atomic uint64_t written_seq, durable_seq;
    struct event_base *base;
    pg_spool_durable_fn done;
    void *done_arg;
    bool sync_in_flight;
    bool sync_again; /* a sync was asked for while one ran */
    enum pg_spool_error sync_code;
    uint64_t sync_covers, sync_from;
    struct pg_spool_stats stats;
    char err[256];
    /* Frames added but not written yet (pg_spool_add), and what the spool
     * was before the first of them, to go back to if their write fails. */
    unsigned char *wbuf;
    size_t wlen, wcap;
    uint64_t saved_first_seq, saved_last_seq;
    bool saved_any_seq_ok;
};

struct pg_spool_iter {
    int fd;
    uint64_t from;
    char *buf;
    size_t cap;
};

enum pg_spool_error pg_spool_error_of_errno(int e)
{
    switch (e) {
    case ENOSPC:
    case EDQUOT:
    case EFBIG: return PG_SPOOL_FULL;
    case EACCES:
    case EPERM:
    case EROFS: return PG_SPOOL_DENIED;
    default: return PG_SPOOL_IO;
    }
}

static enum pg_spool_error fail(struct pg_spool *sp, int e, const char *what, const char *path)
{
    enum pg_spool_error code = pg_spool_error_of_errno(e);
    snprintf(sp->err, sizeof sp->err, "audit spool %s: %s %s: %s%s", path, what, "failed", strerror(e),
             code == PG_SPOOL_FULL ? " (disk full)" : code == PG_SPOOL_DENIED ? " (not writable)" : "");
    return code;
}

const char *pg_spool_strerror(struct pg_spool *sp)
{
    return sp->err;
}

static void put_u32(unsigned char *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

static void put_u64(unsigned char *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (unsigned char)(v >> (8 * i));
}

/* CRC-32C (reflected polynomial 0x82F63B78, initial and final value all
 * ones), by table where the instruction is missing. */
static uint32_t crc32c_table[256];
static pthread_once_t crc32c_once = PTHREAD_ONCE_INIT;

static void crc32c_make_table(void)
{
    for (uint32_t i = 0; i < 256; i++) {
        uint32_t c = i;
        for (int k = 0; k < 8; k++)
            c = c & 1 ? (c >> 1) ^ 0x82F63B78u : c >> 1;
        crc32c_table[i] = c;
    }
}

static uint32_t crc32c_soft(uint32_t c, const unsigned char *p, size_t n)
{
    pthread_once(&crc32c_once, crc32c_make_table);
    while (n--)
        c = crc32c_table[(c ^ *p++) & 0xff] ^ (c >> 8);
    return c;
}

uint32_t pg_spool_crc32c_table(const void *p, size_t n)
{
    return ~crc32c_soft(~0u, p, n);
}

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
__attribute__((target("sse4.2"))) static uint32_t crc32c_hard(uint32_t c, const unsigned char *p, size_t n)
{
    uint64_t c64 = c;
    for (; n >= 8; n -= 8, p += 8) {
        uint64_t v;
        memcpy(&v, p, 8);
        c64 = __builtin_ia32_crc32di(c64, v);
    }
    c = (uint32_t)c64;
    for (; n; n--)
        c = __builtin_ia32_crc32qi(c, *p++);
    return c;
}

static uint32_t crc32c_update(uint32_t c, const unsigned char *p, size_t n)
{
    static int hard = -1; /* the same answer on every thread: a benign race */
    if (hard < 0)
        hard = __builtin_cpu_supports("sse4.2") ? 1 : 0;
    return hard ? crc32c_hard(c, p, n) : crc32c_soft(c, p, n);
}
#else
static uint32_t crc32c_update(uint32_t c, const unsigned char *p, size_t n)
{
    return crc32c_soft(c, p, n);
}
#endif

uint32_t pg_spool_crc32c(const void *p, size_t n)
{
    return ~crc32c_update(~0u, p, n);
}

static uint32_t get_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get_u64(const unsigned char *p)
{
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--)
        v = v << 8 | p[i];
    return v;
}

/* Chain ids name files: every byte but [A-Za-z0-9._-] becomes %XX, so two
 * chains never share a file and no id can leave the directory. */
static char *file_name(const char *dir, const char *chain, const char *suffix)
{
    size_t n = strlen(chain);
    char *enc = malloc(3 * n + 1), *p = enc;
    if (!enc)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)chain[i];
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
            (c == '.' && i > 0))
            *p++ = (char)c;
        else
            p += sprintf(p, "%%%02X", c);
    }
    *p = '\0';
    size_t len = strlen(dir) + strlen(enc) + strlen(suffix) + 2;
    char *path = malloc(len);
    if (path)
        snprintf(path, len, "%s/%s%s", dir, enc, suffix);
    free(enc);
    return path;
}

static int read_full(int fd, void *buf, size_t n, off_t at)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, (char *)buf + got, n - got, at + (off_t)got);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return -1;
        if (r == 0)
            break;
        got += (size_t)r;
    }
    return (int)(got == n);
}

/* Reads the frame at off. 1 with the payload in *buf, 0 when the frame is
 * incomplete or its CRC fails, -1 on a read error. */
static int read_frame(int fd, off_t off, char **buf, size_t *cap, uint32_t *len)
{
    unsigned char head[FRAME_HEAD], tail[FRAME_TAIL];
    int r = read_full(fd, head, sizeof head, off);
    if (r <= 0)
        return r;
    uint32_t word = get_u32(head);
    *len = word & ~CRC32C_FLAG;
    if (*len < SEQ_LEN || *len > SEQ_LEN + PG_SPOOL_MAX_RECORD)
        return 0;
    if (*cap < *len) {
        char *g = realloc(*buf, *len);
        if (!g) {
            errno = ENOMEM;
            return -1;
        }
        *buf = g;
        *cap = *len;
    }
    if ((r = read_full(fd, *buf, *len, off + FRAME_HEAD)) <= 0 ||
        (r = read_full(fd, tail, sizeof tail, off + FRAME_HEAD + *len)) <= 0)
        return r;
    uint32_t want = get_u32(tail);
    if (word & CRC32C_FLAG)
        return pg_spool_crc32c(*buf, *len) == want;
    return crc32(0, (const unsigned char *)*buf, *len) == want;
}

/* "<seq> <h>\n"; absent means nothing was acknowledged yet. */
static int read_cursor(struct pg_spool *sp, char h[PG_HASH_HEX])
{
    char text[128];
    h[0] = '\0';
    int fd = open(sp->cursor_path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return 0;
        fail(sp, errno, "open", sp->cursor_path);
        return -1;
    }
    ssize_t n = read(fd, text, sizeof text - 1);
    close(fd);
    unsigned long long seq;
    char hex[PG_HASH_HEX];
    int used = 0;
    if (n > 0)
        text[n] = '\0';
    if (n <= 0 || sscanf(text, "%20llu %64s\n%n", &seq, hex, &used) != 2 || used != n || !pg_chain_is_hash(hex)) {
        snprintf(sp->err, sizeof sp->err, "audit spool %s: not a cursor (want \"<seq> <h>\")", sp->cursor_path);
        return -1;
    }
    sp->acked_seq = seq;
    memcpy(h, hex, PG_HASH_HEX);
    return 0;
}

/* Walks the frames: a bad frame at the very end is a torn write and is
 * cut; one with frames after it is corruption and refuses the open. */
static enum pg_spool_error recover(struct pg_spool *sp, struct pg_spool_recovery *rec)
{
    struct stat st;
    char *buf = NULL;
    size_t cap = 0;
    off_t off = 0, last_off = -1;
    uint32_t len = 0, last_len = 0;
    if (fstat(sp->fd, &st) != 0)
        return fail(sp, errno, "stat", sp->path);
    for (;;) {
        int r = read_frame(sp->fd, off, &buf, &cap, &len);
        if (r < 0) {
            free(buf);
            return fail(sp, errno, "read", sp->path);
        }
        if (r == 0)
            break;
        uint64_t seq = get_u64((unsigned char *)buf);
        if (sp->first_seq && seq != sp->last_seq + 1) {
            free(buf);
            snprintf(sp->err, sizeof sp->err, "audit spool %s: seq %" PRIu64 " follows %" PRIu64 " at offset %lld",
                     sp->path, seq, sp->last_seq, (long long)off);
            return PG_SPOOL_CORRUPT;
        }
        if (!sp->first_seq)
            sp->first_seq = seq;
        sp->last_seq = seq;
        last_off = off;
        last_len = len;
        off += (off_t)(FRAME_HEAD + len + FRAME_TAIL);
    }
    if (off < st.st_size) {
        /* Could a whole frame start after the bad one? Then this is not a
         * write cut short at the end but damage in the middle. */
        unsigned char head[FRAME_HEAD];
        off_t remaining = st.st_size - off;
        bool head_ok = read_full(sp->fd, head, sizeof head, off) > 0;
        uint32_t declared = head_ok ? get_u32(head) & ~CRC32C_FLAG : 0;
        bool sane = declared >= SEQ_LEN && declared <= SEQ_LEN + PG_SPOOL_MAX_RECORD;
        bool tail_only = !head_ok || (sane && remaining <= (off_t)(FRAME_HEAD + declared + FRAME_TAIL)) ||
                         (!sane && remaining <= (off_t)(FRAME_HEAD + SEQ_LEN + PG_SPOOL_MAX_RECORD + FRAME_TAIL));
        if (!tail_only) {
            free(buf);
            snprintf(sp->err, sizeof sp->err, "audit spool %s: bad frame at offset %lld with data after it",
                     sp->path, (long long)off);
            return PG_SPOOL_CORRUPT;
        }
        if (ftruncate(sp->fd, off) != 0 || fdatasync(sp->fd) != 0) {
            free(buf);
            return fail(sp, errno, "truncate", sp->path);
        }
        rec->torn_bytes = (uint64_t)(st.st_size - off);
    }
    sp->size = off;
    rec->first_seq = sp->first_seq;
    rec->last_seq = sp->last_seq;
    if (last_off >= 0) {
        if (read_frame(sp->fd, last_off, &buf, &cap, &last_len) != 1) {
            free(buf);
            return fail(sp, EIO, "re-read", sp->path);
        }
        pg_chain_leaf_hash(buf + SEQ_LEN, last_len - SEQ_LEN, rec->last_h);
    }
    free(buf);
    return PG_SPOOL_OK;
}

int pg_spool_open(const char *dir, const char *chain, struct pg_spool **out, struct pg_spool_recovery *rec,
                  enum pg_spool_error *code, char *err, size_t errlen)
{
    struct pg_spool *sp = calloc(1, sizeof *sp);
    char cursor_h[PG_HASH_HEX];
    if (sp)
        sp->fd = -1;
    memset(rec, 0, sizeof *rec);
    *out = NULL;
    *code = PG_SPOOL_IO;
    if (!sp || !*chain || !(sp->path = file_name(dir, chain, ".spool")) ||
        !(sp->cursor_path = file_name(dir, chain, ".cursor"))) {
        snprintf(err, errlen, "audit spool: %s", sp && !*chain ? "empty chain id" : "out of memory");
        *code = sp && !*chain ? PG_SPOOL_INVALID : PG_SPOOL_IO;
        pg_spool_close(sp);
        return -1;
    }
    sp->fd = open(sp->path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
    if (sp->fd < 0) {
        *code = fail(sp, errno, "open", sp->path);
    } else if (read_cursor(sp, cursor_h) != 0) {
        *code = PG_SPOOL_CORRUPT;
    } else {
        *code = recover(sp, rec);
    }
    if (*code != PG_SPOOL_OK) {
        snprintf(err, errlen, "%s", sp->err);
        pg_spool_close(sp);
        return -1;
    }
    rec->acked_seq = sp->acked_seq;
    if (cursor_h[0] && sp->first_seq && sp->acked_seq > sp->last_seq) {
        /* Redis acknowledged more than the file kept (a machine crash
         * before the fsync): every record in it is stored, and the chain
         * goes on from the cursor. */
        if (ftruncate(sp->fd, 0) != 0) {
            *code = fail(sp, errno, "truncate", sp->path);
            snprintf(err, errlen, "%s", sp->err);
            pg_spool_close(sp);
            return -1;
        }
        sp->size = 0;
        sp->first_seq = 0;
        rec->first_seq = 0;
    }
    if (!sp->first_seq) {
        /* An empty file: the cursor, if any, carries the chain's tip. */
        sp->last_seq = sp->acked_seq;
        rec->last_seq = sp->acked_seq;
        memcpy(rec->last_h, cursor_h, PG_HASH_HEX);
        sp->any_seq_ok = cursor_h[0] == '\0';
    }
    atomic_store(&sp->written_seq, sp->last_seq);
    atomic_store(&sp->durable_seq, sp->last_seq);
    *out = sp;
    return 0;
}

void pg_spool_close(struct pg_spool *sp)
{
    if (!sp)
        return;
    if (sp->fd >= 0)
        close(sp->fd);
    free(sp->path);
    free(sp->cursor_path);
    free(sp->wbuf);
    free(sp);
}

/* Writes kept at most this large between passes: a burst's buffer is
 * given back once written. */
#define WBUF_KEEP (1u << 20)

enum pg_spool_error pg_spool_add(struct pg_spool *sp, uint64_t seq, const char *bytes, size_t len)
{
    if (len > PG_SPOOL_MAX_RECORD || (!sp->any_seq_ok && seq != sp->last_seq + 1) || seq == 0) {
        snprintf(sp->err, sizeof sp->err, "audit spool %s: record seq %" PRIu64 " (%zu bytes) refused after seq %" PRIu64,
                 sp->path, seq, len, sp->last_seq);
        return PG_SPOOL_INVALID;
    }
    size_t total = FRAME_HEAD + SEQ_LEN + len + FRAME_TAIL;
    if (sp->wlen + total > sp->wcap) {
        size_t cap = sp->wcap ? sp->wcap : 16384;
        while (cap < sp->wlen + total)
            cap *= 2;
        unsigned char *g = realloc(sp->wbuf, cap);
        if (!g)
            return fail(sp, ENOMEM, "buffer", sp->path);
        sp->wbuf = g;
        sp->wcap = cap;
    }
    if (!sp->wlen) {
        sp->saved_first_seq = sp->first_seq;
        sp->saved_last_seq = sp->last_seq;
        sp->saved_any_seq_ok = sp->any_seq_ok;
    }
    unsigned char *f = sp->wbuf + sp->wlen;
    put_u32(f, (uint32_t)(SEQ_LEN + len) | CRC32C_FLAG);
    put_u64(f + FRAME_HEAD, seq);
    memcpy(f + FRAME_HEAD + SEQ_LEN, bytes, len);
    put_u32(f + FRAME_HEAD + SEQ_LEN + len, pg_spool_crc32c(f + FRAME_HEAD, SEQ_LEN + len));
    sp->wlen += total;
    if (!sp->first_seq)
        sp->first_seq = seq;
    sp->last_seq = seq;
    sp->any_seq_ok = false;
    return PG_SPOOL_OK;
}

size_t pg_spool_buffered(const struct pg_spool *sp)
{
    return sp->wlen;
}

/* The added frames are forgotten: the spool is as it was before them. */
static void drop_added(struct pg_spool *sp)
{
    sp->first_seq = sp->saved_first_seq;
    sp->last_seq = sp->saved_last_seq;
    sp->any_seq_ok = sp->saved_any_seq_ok;
    sp->wlen = 0;
}

enum pg_spool_error pg_spool_flush(struct pg_spool *sp)
{
    size_t done = 0;
    while (done < sp->wlen) {
        ssize_t w = write(sp->fd, sp->wbuf + done, sp->wlen - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0) {
            int e = errno;
            /* Cut what was written of the frames so the file stays whole and
             * their seqs can be added again; truncating needs no free space. */
            drop_added(sp);
            if (done && ftruncate(sp->fd, sp->size) != 0)
                return fail(sp, errno, "truncate after a failed write", sp->path);
            return fail(sp, e, "write", sp->path);
        }
        done += (size_t)w; /* a short write: go on after what was written */
    }
    sp->size += (off_t)sp->wlen;
    sp->wlen = 0;
    if (sp->wcap > WBUF_KEEP) {
        free(sp->wbuf);
        sp->wbuf = NULL;
        sp->wcap = 0;
    }
    atomic_store(&sp->written_seq, sp->last_seq);
    return PG_SPOOL_OK;
}

enum pg_spool_error pg_spool_append(struct pg_spool *sp, uint64_t seq, const char *bytes, size_t len)
{
    if (sp->wlen) {
        snprintf(sp->err, sizeof sp->err, "audit spool %s: append with frames added and not written", sp->path);
        return PG_SPOOL_INVALID;
    }
    enum pg_spool_error code = pg_spool_add(sp, seq, bytes, len);
    return code == PG_SPOOL_OK ? pg_spool_flush(sp) : code;
}

uint64_t pg_spool_sync(struct pg_spool *sp, enum pg_spool_error *code)
{
    uint64_t covers = atomic_load(&sp->written_seq);
    *code = PG_SPOOL_OK;
    if (fdatasync(sp->fd) != 0) {
        *code = fail(sp, errno, "fdatasync", sp->path);
        return atomic_load(&sp->durable_seq);
    }
    uint64_t before = atomic_load(&sp->durable_seq);
    if (covers > before)
        atomic_store(&sp->durable_seq, covers);
    return covers > before ? covers : before;
}

uint64_t pg_spool_durable_seq(struct pg_spool *sp)
{
    return atomic_load(&sp->durable_seq);
}

void pg_spool_on_durable(struct pg_spool *sp, struct event_base *base, pg_spool_durable_fn done, void *arg)
{
    sp->base = base;
    sp->done = done;
    sp->done_arg = arg;
}

static void sync_work(void *arg)
{
    struct pg_spool *sp = arg;
    sp->sync_from = atomic_load(&sp->durable_seq);
    sp->sync_covers = pg_spool_sync(sp, &sp->sync_code);
}

static void sync_done(void *arg)
{
    struct pg_spool *sp = arg;
    sp->sync_in_flight = false;
    if (sp->sync_code == PG_SPOOL_OK) {
        uint64_t batch = sp->sync_covers - sp->sync_from;
        sp->stats.syncs++;
        sp->stats.synced_records += batch;
        if (batch > sp->stats.largest_batch)
            sp->stats.largest_batch = batch;
        if (sp->sync_again && atomic_load(&sp->written_seq) > sp->sync_covers)
            pg_spool_request_sync(sp);
    }
    if (sp->done)
        sp->done(sp, sp->sync_covers, sp->sync_code, sp->done_arg);
}

int pg_spool_request_sync(struct pg_spool *sp)
{
    if (sp->sync_in_flight) {
        sp->sync_again = true; /* its done starts the next one */
        return 0;
    }
    sp->sync_again = false;
    if (!sp->base)
        return -1;
    sp->sync_in_flight = true;
    if (pg_workq_submit(PG_POOL_IO, sp->base, sync_work, sync_done, sp) != 0) {
        sp->sync_in_flight = false;
        return -1;
    }
    return 0;
}

enum pg_spool_error pg_spool_ack(struct pg_spool *sp, uint64_t seq, const char *h)
{
    /* seq may lie past the file's last record: in async mode, records
     * that could not be written (a full disk) went to Redis from memory.
     * Opening then finds a cursor beyond the file, and goes on from it. */
    if (!pg_chain_is_hash(h) || seq == 0) {
        snprintf(sp->err, sizeof sp->err, "audit spool %s: ack of seq %" PRIu64 " refused (last is %" PRIu64 ")",
                 sp->path, seq, sp->last_seq);
        return PG_SPOOL_INVALID;
    }
    size_t n = strlen(sp->cursor_path) + 5;
    char *tmp = malloc(n), line[96];
    if (!tmp)
        return fail(sp, ENOMEM, "ack", sp->cursor_path);
    snprintf(tmp, n, "%s.tmp", sp->cursor_path);
    int len = snprintf(line, sizeof line, "%" PRIu64 " %s\n", seq, h);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    enum pg_spool_error code = PG_SPOOL_OK;
    if (fd < 0) {
        code = fail(sp, errno, "open", tmp);
    } else {
        ssize_t w = write(fd, line, (size_t)len);
        int e = w < 0 ? errno : ENOSPC; /* a short write of 80 bytes is a full disk */
        if (w != len)
            code = fail(sp, e, "write", tmp);
        else if (fsync(fd) != 0)
            code = fail(sp, errno, "fsync", tmp);
        close(fd);
        if (code == PG_SPOOL_OK && rename(tmp, sp->cursor_path) != 0)
            code = fail(sp, errno, "rename", tmp);
        if (code != PG_SPOOL_OK)
            unlink(tmp);
    }
    free(tmp);
    if (code == PG_SPOOL_OK)
        sp->acked_seq = seq;
    return code;
}

enum pg_spool_error pg_spool_trim(struct pg_spool *sp)
{
    if (sp->acked_seq < sp->last_seq || sp->sync_in_flight || sp->wlen)
        return PG_SPOOL_OK; /* something is still unacknowledged */
    if (sp->first_seq && ftruncate(sp->fd, 0) != 0)
        return fail(sp, errno, "truncate", sp->path);
    sp->size = 0;
    sp->first_seq = 0;
    if (sp->acked_seq > sp->last_seq) {
        /* Redis holds records the file never got (async mode, a full
         * disk): the chain's tip on disk is now the cursor, so the next
         * record after it can be written again. */
        sp->last_seq = sp->acked_seq;
        atomic_store(&sp->written_seq, sp->last_seq);
        atomic_store(&sp->durable_seq, sp->last_seq);
    }
    return PG_SPOOL_OK;
}

void pg_spool_stats(struct pg_spool *sp, struct pg_spool_stats *out)
{
    *out = sp->stats;
}

struct pg_spool_iter *pg_spool_replay(struct pg_spool *sp, uint64_t from_seq)
{
    struct pg_spool_iter *it = calloc(1, sizeof *it);
    if (!it)
        return NULL;
    it->fd = open(sp->path, O_RDONLY | O_CLOEXEC);
    if (it->fd < 0) {
        fail(sp, errno, "open for replay", sp->path);
        free(it);
        return NULL;
    }
    it->from = from_seq;
    return it;
}

int pg_spool_next(struct pg_spool_iter *it, uint64_t *seq, const char **bytes, size_t *len)
{
    for (;;) {
        unsigned char head[FRAME_HEAD];
        off_t at = lseek(it->fd, 0, SEEK_CUR);
        int r = read_full(it->fd, head, sizeof head, at);
        if (r <= 0)
            return r; /* the end, or an error */
        uint32_t n;
        if ((r = read_frame(it->fd, at, &it->buf, &it->cap, &n)) != 1)
            return -1; /* recovery made every frame whole: this is new damage */
        lseek(it->fd, at + (off_t)(FRAME_HEAD + n + FRAME_TAIL), SEEK_SET);
        *seq = get_u64((unsigned char *)it->buf);
        if (*seq < it->from)
            continue;
        *bytes = it->buf + SEQ_LEN;
        *len = n - SEQ_LEN;
        return 1;
    }
}

void pg_spool_iter_free(struct pg_spool_iter *it)
{
    if (!it)
        return;
    close(it->fd);
    free(it->buf);
    free(it);
}

bool pg_spool_sync_in_flight(const struct pg_spool *sp)
{
    return sp->sync_in_flight;
}
