/* The audit spool (proxy/spool.c): append, reopen and replay; a torn tail
 * cut and damage refused; the cursor; a full disk failing cleanly; group
 * commit on the work queue. Each test works in its own temporary dir. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <errno.h>
#include <event2/thread.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "proxy/spool.h"
#include "proxy/workq.h"

#define CHAIN "pod-0/w0/e1"
#define FILE_NAME "pod-0%2Fw0%2Fe1.spool"

struct tmp {
    char dir[64];
    char file[160];
};

static int make_dir(void **state)
{
    struct tmp *t = calloc(1, sizeof *t);
    strcpy(t->dir, "/tmp/pg-spool-XXXXXX");
    if (!t || !mkdtemp(t->dir))
        return -1;
    snprintf(t->file, sizeof t->file, "%s/%s", t->dir, FILE_NAME);
    *state = t;
    return 0;
}

static int remove_dir(void **state)
{
    struct tmp *t = *state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", t->dir);
    int rc = system(cmd);
    free(t);
    return rc == 0 ? 0 : -1;
}

static struct pg_spool *open_ok(struct tmp *t, struct pg_spool_recovery *rec)
{
    struct pg_spool *sp;
    enum pg_spool_error code;
    char err[256];
    if (pg_spool_open(t->dir, CHAIN, &sp, rec, &code, err, sizeof err) != 0)
        fail_msg("open: %s", err);
    return sp;
}

static void record_text(uint64_t seq, char *out, size_t n)
{
    snprintf(out, n, "{\"seq\":%llu,\"type\":\"rest\"}", (unsigned long long)seq);
}

static void append_range(struct pg_spool *sp, uint64_t from, uint64_t to)
{
    for (uint64_t s = from; s <= to; s++) {
        char r[64];
        record_text(s, r, sizeof r);
        assert_int_equal(pg_spool_append(sp, s, r, strlen(r)), PG_SPOOL_OK);
    }
}

static off_t file_size(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0 ? st.st_size : -1;
}

static void test_append_reopen_replay(void **state)
{
    struct tmp *t = *state;
    struct pg_spool_recovery rec;
    struct pg_spool *sp = open_ok(t, &rec);
    assert_int_equal(rec.last_seq, 0);
    assert_string_equal(rec.last_h, "");
    append_range(sp, 1, 5);
    enum pg_spool_error code;
    assert_int_equal(pg_spool_sync(sp, &code), 5);
    assert_int_equal(code, PG_SPOOL_OK);
    pg_spool_close(sp);
    assert_true(file_size(t->file) > 0); /* the chain id is escaped into one file name */

    sp = open_ok(t, &rec);
    char r5[64], h5[PG_HASH_HEX];
    record_text(5, r5, sizeof r5);
    pg_chain_leaf_hash(r5, strlen(r5), h5);
    assert_int_equal(rec.first_seq, 1);
    assert_int_equal(rec.last_seq, 5);
    assert_string_equal(rec.last_h, h5);
    assert_int_equal(rec.torn_bytes, 0);
    assert_int_equal(pg_spool_durable_seq(sp), 5);

    struct pg_spool_iter *it = pg_spool_replay(sp, 3);
    uint64_t seq, want = 3;
    const char *bytes;
    size_t len;
    while (pg_spool_next(it, &seq, &bytes, &len) == 1) {
        char r[64];
        record_text(want, r, sizeof r);
        assert_int_equal(seq, want);
        assert_memory_equal(bytes, r, strlen(r));
        assert_int_equal(len, strlen(r));
        want++;
    }
    assert_int_equal(want, 6);
    pg_spool_iter_free(it);
    /* The chain continues at 6 and nowhere else. */
    assert_int_equal(pg_spool_append(sp, 7, "{}", 2), PG_SPOOL_INVALID);
    assert_int_equal(pg_spool_append(sp, 5, "{}", 2), PG_SPOOL_INVALID);
    assert_non_null(strstr(pg_spool_strerror(sp), "seq 5"));
    append_range(sp, 6, 6);
    pg_spool_close(sp);
}

static void test_torn_tail_is_cut(void **state)
{
    struct tmp *t = *state;
    struct pg_spool_recovery rec;
    struct pg_spool *sp = open_ok(t, &rec);
    append_range(sp, 1, 3);
    pg_spool_close(sp);
    off_t whole = file_size(t->file);
    /* kill -9 in the middle of writing record 3: only part of it landed. */
    assert_int_equal(truncate(t->file, whole - 5), 0);
    sp = open_ok(t, &rec);
    assert_int_equal(rec.last_seq, 2);
    assert_true(rec.torn_bytes > 0);
    off_t two = file_size(t->file);
    assert_int_equal(two + (off_t)rec.torn_bytes, whole - 5);
    append_range(sp, 3, 3);
    pg_spool_close(sp);
    assert_int_equal(file_size(t->file), whole);

    /* A whole-length last frame whose bytes never reached the disk. */
    int fd = open(t->file, O_WRONLY);
    assert_true(fd >= 0);
    assert_int_equal(pwrite(fd, "\0\0\0\0", 4, whole - 8), 4);
    close(fd);
    sp = open_ok(t, &rec);
    assert_int_equal(rec.last_seq, 2);
    pg_spool_close(sp);
}

static void test_damage_in_the_middle_refused(void **state)
{
    struct tmp *t = *state;
    struct pg_spool_recovery rec;
    struct pg_spool *sp = open_ok(t, &rec);
    append_range(sp, 1, 3);
    pg_spool_close(sp);
    int fd = open(t->file, O_WRONLY);
    assert_int_equal(pwrite(fd, "X", 1, 15), 1); /* inside record 1 */
    close(fd);
    enum pg_spool_error code;
    char err[256];
    assert_int_equal(pg_spool_open(t->dir, CHAIN, &sp, &rec, &code, err, sizeof err), -1);
    assert_int_equal(code, PG_SPOOL_CORRUPT);
    assert_non_null(strstr(err, "offset 0"));
}

/* Async mode with a full disk: records 3 to 6 never reached the file but
 * went to Redis from memory. The cursor may then name 6; trimming empties
 * the file and the chain goes on after 6, in the file and after a restart. */
static void test_cursor_past_the_file(void **state)
{
    struct tmp *t = *state;
    struct pg_spool_recovery rec;
    struct pg_spool *sp = open_ok(t, &rec);
    append_range(sp, 1, 2);
    char h6[PG_HASH_HEX], r[64];
    record_text(6, r, sizeof r);
    pg_chain_leaf_hash(r, strlen(r), h6);
    assert_int_equal(pg_spool_append(sp, 4, "{}", 2), PG_SPOOL_INVALID); /* a gap: refused */
    assert_int_equal(pg_spool_ack(sp, 6, h6), PG_SPOOL_OK);
    assert_int_equal(pg_spool_trim(sp), PG_SPOOL_OK);
    assert_int_equal(file_size(t->file), 0);
    assert_int_equal(pg_spool_append(sp, 3, "{}", 2), PG_SPOOL_INVALID);
    append_range(sp, 7, 8);
    pg_spool_close(sp);
    sp = open_ok(t, &rec);
    assert_int_equal(rec.acked_seq, 6);
    assert_int_equal(rec.first_seq, 7);
    assert_int_equal(rec.last_seq, 8);
    pg_spool_close(sp);
}

static void test_cursor_and_trim(void **state)
{
    struct tmp *t = *state;
    struct pg_spool_recovery rec;
    struct pg_spool *sp = open_ok(t, &rec);
    append_range(sp, 1, 4);
    char h3[PG_HASH_HEX], h4[PG_HASH_HEX], r[64];
    record_text(3, r, sizeof r);
    pg_chain_leaf_hash(r, strlen(r), h3);
    record_text(4, r, sizeof r);
    pg_chain_leaf_hash(r, strlen(r), h4);
    assert_int_equal(pg_spool_ack(sp, 3, h3), PG_SPOOL_OK);
    assert_int_equal(pg_spool_ack(sp, 0, h3), PG_SPOOL_INVALID);
    assert_int_equal(pg_spool_ack(sp, 3, "not a hash"), PG_SPOOL_INVALID);
    assert_int_equal(pg_spool_trim(sp), PG_SPOOL_OK); /* 4 is not acknowledged: nothing cut */
    pg_spool_close(sp);

    sp = open_ok(t, &rec);
    assert_int_equal(rec.acked_seq, 3);
    assert_int_equal(rec.last_seq, 4);
    assert_int_equal(pg_spool_ack(sp, 4, h4), PG_SPOOL_OK);
    assert_int_equal(pg_spool_trim(sp), PG_SPOOL_OK);
    assert_int_equal(file_size(t->file), 0);
    pg_spool_close(sp);

    /* An empty spool: the cursor carries the tip, and the chain goes on. */
    sp = open_ok(t, &rec);
    assert_int_equal(rec.first_seq, 0);
    assert_int_equal(rec.last_seq, 4);
    assert_string_equal(rec.last_h, h4);
    assert_int_equal(pg_spool_append(sp, 1, "{}", 2), PG_SPOOL_INVALID);
    append_range(sp, 5, 5);
    pg_spool_close(sp);
    sp = open_ok(t, &rec);
    assert_int_equal(rec.first_seq, 5);
    assert_int_equal(rec.last_seq, 5);
    pg_spool_close(sp);

    /* Redis acknowledged a record the file lost (no fsync before a machine
     * crash): the cursor wins and the chain goes on after it. */
    sp = open_ok(t, &rec);
    off_t one = file_size(t->file);
    append_range(sp, 6, 7);
    char h7[PG_HASH_HEX];
    record_text(7, r, sizeof r);
    pg_chain_leaf_hash(r, strlen(r), h7);
    assert_int_equal(pg_spool_ack(sp, 7, h7), PG_SPOOL_OK);
    pg_spool_close(sp);
    assert_int_equal(truncate(t->file, one), 0);
    sp = open_ok(t, &rec);
    assert_int_equal(rec.first_seq, 0);
    assert_int_equal(rec.last_seq, 7);
    assert_string_equal(rec.last_h, h7);
    append_range(sp, 8, 8);
    pg_spool_close(sp);
    sp = open_ok(t, &rec);
    assert_int_equal(rec.first_seq, 8);
    pg_spool_close(sp);

    /* A cursor that is not one refuses the open rather than replaying blind. */
    char cursor[200];
    snprintf(cursor, sizeof cursor, "%s/pod-0%%2Fw0%%2Fe1.cursor", t->dir);
    FILE *f = fopen(cursor, "w");
    fputs("12 nothex\n", f);
    fclose(f);
    enum pg_spool_error code;
    char err[256];
    assert_int_equal(pg_spool_open(t->dir, CHAIN, &sp, &rec, &code, err, sizeof err), -1);
    assert_int_equal(code, PG_SPOOL_CORRUPT);
    assert_non_null(strstr(err, "not a cursor"));
}

/* RLIMIT_FSIZE makes write() fail with EFBIG once the file reaches the
 * limit, as ENOSPC would on a full disk (SIGXFSZ ignored). */
static void test_full_disk_fails_cleanly(void **state)
{
    struct tmp *t = *state;
    struct pg_spool_recovery rec;
    struct pg_spool *sp = open_ok(t, &rec);
    append_range(sp, 1, 2);
    off_t before = file_size(t->file);
    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    void (*was)(int) = signal(SIGXFSZ, SIG_IGN);
    lim.rlim_cur = (rlim_t)before + 20;
    lim.rlim_max = old.rlim_max;
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    char big[400];
    memset(big, 'x', sizeof big);
    enum pg_spool_error code = pg_spool_append(sp, 3, big, sizeof big);
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, was);
    assert_int_equal(code, PG_SPOOL_FULL);
    assert_non_null(strstr(pg_spool_strerror(sp), "disk full"));
    assert_int_equal(file_size(t->file), before); /* the partial frame was cut */
    /* Room again: the same seq goes in, and the file reopens whole. */
    assert_int_equal(pg_spool_append(sp, 3, big, sizeof big), PG_SPOOL_OK);
    pg_spool_close(sp);
    sp = open_ok(t, &rec);
    assert_int_equal(rec.last_seq, 3);
    assert_int_equal(rec.torn_bytes, 0);
    pg_spool_close(sp);
}

/* Frames added in one pass go to the file with one write: nothing of them
 * is in the file (or covered by a sync) before the flush; a flush that
 * fails leaves the file as it was and the spool taking the same seqs
 * again. */
static void test_added_frames_written_by_one_flush(void **state)
{
    struct tmp *t = *state;
    struct pg_spool_recovery rec;
    struct pg_spool *sp = open_ok(t, &rec);
    append_range(sp, 1, 2);
    off_t before = file_size(t->file);
    char r[64];
    for (uint64_t s = 3; s <= 6; s++) {
        record_text(s, r, sizeof r);
        assert_int_equal(pg_spool_add(sp, s, r, strlen(r)), PG_SPOOL_OK);
    }
    assert_int_equal(pg_spool_add(sp, 8, "{}", 2), PG_SPOOL_INVALID); /* still in order */
    assert_int_equal(pg_spool_append(sp, 7, "{}", 2), PG_SPOOL_INVALID); /* not past added frames */
    assert_true(pg_spool_buffered(sp) > 0);
    assert_int_equal(file_size(t->file), before);
    enum pg_spool_error code;
    assert_int_equal(pg_spool_sync(sp, &code), 2); /* covers what is written, not what is added */
    assert_int_equal(pg_spool_flush(sp), PG_SPOOL_OK);
    assert_int_equal(pg_spool_buffered(sp), 0);
    assert_int_equal(pg_spool_sync(sp, &code), 6);
    assert_int_equal(pg_spool_flush(sp), PG_SPOOL_OK); /* nothing added: nothing to do */

    /* A batch that does not fit: cut, forgotten, and taken again. */
    before = file_size(t->file);
    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    void (*was)(int) = signal(SIGXFSZ, SIG_IGN);
    lim.rlim_cur = (rlim_t)before + 100;
    lim.rlim_max = old.rlim_max;
    char big[80];
    memset(big, 'y', sizeof big);
    for (uint64_t s = 7; s <= 9; s++)
        assert_int_equal(pg_spool_add(sp, s, big, sizeof big), PG_SPOOL_OK);
    assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
    code = pg_spool_flush(sp);
    setrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, was);
    assert_int_equal(code, PG_SPOOL_FULL);
    assert_int_equal(file_size(t->file), before); /* the frame written in part is cut */
    assert_int_equal(pg_spool_buffered(sp), 0);
    assert_int_equal(pg_spool_add(sp, 8, big, sizeof big), PG_SPOOL_INVALID); /* 7..9 are forgotten */
    assert_int_equal(pg_spool_add(sp, 7, big, sizeof big), PG_SPOOL_OK);
    assert_int_equal(pg_spool_flush(sp), PG_SPOOL_OK);
    pg_spool_close(sp);
    sp = open_ok(t, &rec);
    assert_int_equal(rec.first_seq, 1);
    assert_int_equal(rec.last_seq, 7);
    assert_int_equal(rec.torn_bytes, 0);
    struct pg_spool_iter *it = pg_spool_replay(sp, 1);
    uint64_t seq, want = 1;
    const char *bytes;
    size_t len;
    while (pg_spool_next(it, &seq, &bytes, &len) == 1) {
        assert_int_equal(seq, want);
        if (seq <= 6) {
            record_text(seq, r, sizeof r);
            assert_int_equal(len, strlen(r));
            assert_memory_equal(bytes, r, len);
        } else {
            assert_int_equal(len, sizeof big);
        }
        want++;
    }
    assert_int_equal(want, 8);
    pg_spool_iter_free(it);
    pg_spool_close(sp);
}

/* A new chain's first batch failing: the spool may again start anywhere. */
static void test_failed_first_batch_of_a_new_chain(void **state)
{
    struct tmp *t = *state;
    assert_int_equal(symlink("/dev/full", t->file), 0);
    struct pg_spool_recovery rec;
    struct pg_spool *sp = open_ok(t, &rec);
    assert_int_equal(pg_spool_add(sp, 5, "{}", 2), PG_SPOOL_OK);
    assert_int_equal(pg_spool_add(sp, 6, "{}", 2), PG_SPOOL_OK);
    assert_int_equal(pg_spool_flush(sp), PG_SPOOL_FULL);
    assert_int_equal(pg_spool_add(sp, 5, "{}", 2), PG_SPOOL_OK);
    assert_int_equal(pg_spool_trim(sp), PG_SPOOL_OK); /* never with frames not written */
    pg_spool_close(sp);
}

/* CRC-32C check values (RFC 3720 B.4 and the usual "123456789"), the
 * instruction and the table agreeing at every length and alignment. */
static void test_crc32c(void **state)
{
    (void)state;
    unsigned char zeros[32] = {0}, ones[32], buf[300];
    memset(ones, 0xff, sizeof ones);
    assert_int_equal(pg_spool_crc32c("123456789", 9), 0xE3069283u);
    assert_int_equal(pg_spool_crc32c(zeros, 32), 0x8A9136AAu);
    assert_int_equal(pg_spool_crc32c(ones, 32), 0x62A8AB43u);
    assert_int_equal(pg_spool_crc32c_table("123456789", 9), 0xE3069283u);
    for (size_t i = 0; i < sizeof buf; i++)
        buf[i] = (unsigned char)(i * 131 + 7);
    for (size_t off = 0; off < 9; off++)
        for (size_t n = 0; n + off <= sizeof buf; n += 7)
            assert_int_equal(pg_spool_crc32c(buf + off, n), pg_spool_crc32c_table(buf + off, n));
}

/* A file written before frames carried CRC-32C (zlib's CRC-32, flag bit
 * clear) opens, replays, takes new frames after its own, and a torn new
 * frame at its end is still cut. */
static void test_zlib_crc_frames_still_read(void **state)
{
    struct tmp *t = *state;
    int fd = open(t->file, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    for (uint64_t seq = 1; seq <= 3; seq++) {
        char r[64];
        record_text(seq, r, sizeof r);
        size_t n = strlen(r);
        unsigned char f[128];
        uint32_t len = (uint32_t)(8 + n);
        for (int i = 0; i < 4; i++)
            f[i] = (unsigned char)(len >> (8 * i));
        for (int i = 0; i < 8; i++)
            f[4 + i] = (unsigned char)(seq >> (8 * i));
        memcpy(f + 12, r, n);
        uint32_t crc = (uint32_t)crc32(0, f + 4, len);
        for (int i = 0; i < 4; i++)
            f[12 + n + (size_t)i] = (unsigned char)(crc >> (8 * i));
        assert_int_equal(write(fd, f, 16 + n), (ssize_t)(16 + n));
    }
    close(fd);
    struct pg_spool_recovery rec;
    struct pg_spool *sp = open_ok(t, &rec);
    assert_int_equal(rec.first_seq, 1);
    assert_int_equal(rec.last_seq, 3);
    assert_int_equal(rec.torn_bytes, 0);
    char h[PG_HASH_HEX], r[64];
    record_text(3, r, sizeof r);
    pg_chain_leaf_hash(r, strlen(r), h);
    assert_string_equal(rec.last_h, h);
    append_range(sp, 4, 5);
    pg_spool_close(sp);
    off_t whole = file_size(t->file);
    assert_int_equal(truncate(t->file, whole - 3), 0);
    sp = open_ok(t, &rec);
    assert_int_equal(rec.last_seq, 4);
    assert_true(rec.torn_bytes > 0);
    struct pg_spool_iter *it = pg_spool_replay(sp, 2);
    uint64_t seq, want = 2;
    const char *bytes;
    size_t len;
    while (pg_spool_next(it, &seq, &bytes, &len) == 1) {
        assert_int_equal(seq, want);
        record_text(seq, r, sizeof r);
        assert_int_equal(len, strlen(r));
        assert_memory_equal(bytes, r, len);
        want++;
    }
    assert_int_equal(want, 5);
    pg_spool_iter_free(it);
    pg_spool_close(sp);
}

/* /dev/full in place of the spool file: ENOSPC from the first write. */
static void test_dev_full(void **state)
{
    struct tmp *t = *state;
    assert_int_equal(symlink("/dev/full", t->file), 0);
    struct pg_spool_recovery rec;
    struct pg_spool *sp = open_ok(t, &rec);
    assert_int_equal(pg_spool_append(sp, 1, "{}", 2), PG_SPOOL_FULL);
    pg_spool_close(sp);
}

static void test_unwritable_places(void **state)
{
    struct tmp *t = *state;
    struct pg_spool *sp;
    struct pg_spool_recovery rec;
    enum pg_spool_error code;
    char err[256], dir[128];
    snprintf(dir, sizeof dir, "%s/missing", t->dir);
    assert_int_equal(pg_spool_open(dir, CHAIN, &sp, &rec, &code, err, sizeof err), -1);
    assert_int_equal(code, PG_SPOOL_IO);
    assert_non_null(strstr(err, "No such file"));
    assert_int_equal(pg_spool_open(t->dir, "", &sp, &rec, &code, err, sizeof err), -1);
    assert_int_equal(code, PG_SPOOL_INVALID);
    /* Tests run as root here, so permissions cannot refuse; the mapping
     * of the errors that would is checked directly. */
    assert_int_equal(pg_spool_error_of_errno(ENOSPC), PG_SPOOL_FULL);
    assert_int_equal(pg_spool_error_of_errno(EDQUOT), PG_SPOOL_FULL);
    assert_int_equal(pg_spool_error_of_errno(EFBIG), PG_SPOOL_FULL);
    assert_int_equal(pg_spool_error_of_errno(EACCES), PG_SPOOL_DENIED);
    assert_int_equal(pg_spool_error_of_errno(EROFS), PG_SPOOL_DENIED);
    assert_int_equal(pg_spool_error_of_errno(EIO), PG_SPOOL_IO);
    /* A chain id cannot leave the directory. */
    assert_int_equal(pg_spool_open(t->dir, "../escape", &sp, &rec, &code, err, sizeof err), 0);
    pg_spool_close(sp);
    char inside[160];
    snprintf(inside, sizeof inside, "%s/%%2E.%%2Fescape.spool", t->dir);
    assert_true(file_size(inside) >= 0);
}

struct waiter {
    struct event_base *base;
    uint64_t durable;
    uint64_t target;
    int calls;
};

static void on_durable(struct pg_spool *sp, uint64_t durable, enum pg_spool_error code, void *arg)
{
    (void)sp;
    struct waiter *w = arg;
    assert_int_equal(code, PG_SPOOL_OK);
    w->durable = durable;
    w->calls++;
    if (durable >= w->target)
        event_base_loopbreak(w->base);
}

static void test_group_commit_on_the_work_queue(void **state)
{
    struct tmp *t = *state;
    evthread_use_pthreads();
    assert_int_equal(pg_workq_start(PG_POOL_IO, 1, 0), 0);
    struct waiter w = {.base = event_base_new(), .target = 50};
    struct pg_spool_recovery rec;
    struct pg_spool *sp = open_ok(t, &rec);
    pg_spool_on_durable(sp, w.base, on_durable, &w);
    for (uint64_t s = 1; s <= 50; s++) {
        append_range(sp, s, s);
        assert_int_equal(pg_spool_request_sync(sp), 0); /* while one is in flight, this joins the next */
    }
    struct timeval limit = {10, 0};
    event_base_loopexit(w.base, &limit); /* a bound, not a timed assertion */
    event_base_dispatch(w.base);
    pg_workq_stop(PG_POOL_IO);
    assert_int_equal(w.durable, 50);
    assert_int_equal(pg_spool_durable_seq(sp), 50);
    struct pg_spool_stats st;
    pg_spool_stats(sp, &st);
    assert_int_equal(st.synced_records, 50);
    assert_int_equal(st.syncs, (uint64_t)w.calls);
    assert_true(st.largest_batch >= 1 && st.largest_batch <= 50);
    pg_spool_close(sp);
    event_base_free(w.base);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_append_reopen_replay, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(test_torn_tail_is_cut, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(test_damage_in_the_middle_refused, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(test_cursor_past_the_file, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(test_cursor_and_trim, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(test_full_disk_fails_cleanly, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(test_added_frames_written_by_one_flush, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(test_failed_first_batch_of_a_new_chain, make_dir, remove_dir),
        cmocka_unit_test(test_crc32c),
        cmocka_unit_test_setup_teardown(test_zlib_crc_frames_still_read, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(test_dev_full, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(test_unwritable_places, make_dir, remove_dir),
        cmocka_unit_test_setup_teardown(test_group_commit_on_the_work_queue, make_dir, remove_dir),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
